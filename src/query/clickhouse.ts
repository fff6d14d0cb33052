/**
 * ClickHouse functions that log queries use most, as DuckDB macros created in each sandbox
 * before it is locked. Each was checked against DuckDB's behaviour (test/query-clickhouse.test.ts);
 * docs/query.md lists them with what differs.
 */
export const CLICKHOUSE_MACROS: readonly string[] = [
  // ClickHouse's now() is a DateTime in the server's zone; the sandbox runs in UTC, like the data.
  'CREATE MACRO now() AS CAST(current_timestamp AS TIMESTAMP)',
  'CREATE MACRO today() AS CAST(current_timestamp AS DATE)',
  'CREATE MACRO yesterday() AS CAST(current_timestamp AS DATE) - 1',
  // count_if answers HUGEINT; ClickHouse counts are 64-bit.
  'CREATE MACRO countIf(condition) AS CAST(count_if(condition) AS BIGINT)',
  // ClickHouse sums no rows to 0, not NULL: a time bucket with no matching row shows 0.
  'CREATE MACRO sumIf(x, condition) AS coalesce(sum(x) FILTER (WHERE condition), 0)',
  'CREATE MACRO avgIf(x, condition) AS avg(x) FILTER (WHERE condition)',
  'CREATE MACRO minIf(x, condition) AS min(x) FILTER (WHERE condition)',
  'CREATE MACRO maxIf(x, condition) AS max(x) FILTER (WHERE condition)',
  // uniq is exact: DuckDB's HyperLogLog was much further off than ClickHouse's uniq (figures: docs/benchmarks.md).
  // With several arguments both count distinct tuples, as ClickHouse does.
  'CREATE MACRO uniq(x) AS count(DISTINCT x), (a, b) AS count(DISTINCT (a, b)), (a, b, c) AS count(DISTINCT (a, b, c)), (a, b, c, d) AS count(DISTINCT (a, b, c, d))',
  'CREATE MACRO uniqExact(x) AS count(DISTINCT x), (a, b) AS count(DISTINCT (a, b)), (a, b, c) AS count(DISTINCT (a, b, c)), (a, b, c, d) AS count(DISTINCT (a, b, c, d))',
  'CREATE MACRO uniqIf(x, condition) AS count(DISTINCT x) FILTER (WHERE condition)',
  'CREATE MACRO uniqExactIf(x, condition) AS count(DISTINCT x) FILTER (WHERE condition)',
  'CREATE MACRO groupArray(x) AS list(x) FILTER (WHERE x IS NOT NULL)',
  // ClickHouse's quantileExact: the element at floor(level * n) of the sorted values.
  'CREATE MACRO __inlet_quantile_exact(x, level) AS list_sort(list(x) FILTER (WHERE x IS NOT NULL))[least(CAST(floor(level * count(x)) AS BIGINT), count(x) - 1) + 1]',
  "CREATE MACRO toStartOfMinute(t) AS date_trunc('minute', CAST(t AS TIMESTAMP))",
  'CREATE MACRO toStartOfFiveMinutes(t) AS time_bucket(INTERVAL 5 MINUTE, CAST(t AS TIMESTAMP))',
  'CREATE MACRO toStartOfFiveMinute(t) AS time_bucket(INTERVAL 5 MINUTE, CAST(t AS TIMESTAMP))',
  'CREATE MACRO toStartOfTenMinutes(t) AS time_bucket(INTERVAL 10 MINUTE, CAST(t AS TIMESTAMP))',
  'CREATE MACRO toStartOfFifteenMinutes(t) AS time_bucket(INTERVAL 15 MINUTE, CAST(t AS TIMESTAMP))',
  "CREATE MACRO toStartOfHour(t) AS date_trunc('hour', CAST(t AS TIMESTAMP))",
  "CREATE MACRO toStartOfDay(t) AS date_trunc('day', CAST(t AS TIMESTAMP))",
  "CREATE MACRO toStartOfMonth(t) AS CAST(date_trunc('month', CAST(t AS TIMESTAMP)) AS DATE)",
  // ClickHouse counts intervals from the Unix epoch; DuckDB's time_bucket from 2000-01-03 unless told.
  "CREATE MACRO toStartOfInterval(t, i) AS time_bucket(i, CAST(t AS TIMESTAMP), TIMESTAMP '1970-01-01'), (t, i, zone) AS time_bucket(i, CAST(t AS TIMESTAMP), TIMESTAMP '1970-01-01')",
  'CREATE MACRO toDateTime64(t, scale) AS CAST(t AS TIMESTAMP), (t, scale, zone) AS CAST(t AS TIMESTAMP)',
  // What Grafana's ClickHouse data source expands $__fromTime_ms / $__timeFilter_ms into.
  'CREATE MACRO fromUnixTimestamp64Milli(ms) AS epoch_ms(CAST(ms AS BIGINT))',
  // Also toDateTime(<Unix seconds>) and toDateTime64(<Unix seconds>, p): a number there is renamed to this.
  'CREATE MACRO fromUnixTimestamp(s) AS CAST(to_timestamp(s) AS TIMESTAMP), (s, scale) AS CAST(to_timestamp(s) AS TIMESTAMP), (s, scale, zone) AS CAST(to_timestamp(s) AS TIMESTAMP)',
  'CREATE MACRO toUnixTimestamp64Milli(t) AS epoch_ms(CAST(t AS TIMESTAMP))',
  // Grafana's logs volume: does any of the needles occur in the text (1 or 0, ClickHouse's UInt8).
  'CREATE MACRO multiSearchAny(s, needles) AS CAST(list_bool_or([contains(s, n) FOR n IN needles]) AS UTINYINT)',
  'CREATE MACRO toDate(t) AS CAST(t AS DATE)',
  'CREATE MACRO toYear(t) AS year(t)',
  'CREATE MACRO toMonth(t) AS month(t)',
  'CREATE MACRO toDayOfMonth(t) AS day(t)',
  'CREATE MACRO toSecond(t) AS second(t)',
  "CREATE MACRO toStartOfYear(t) AS CAST(date_trunc('year', CAST(t AS TIMESTAMP)) AS DATE)",
  "CREATE MACRO toStartOfQuarter(t) AS CAST(date_trunc('quarter', CAST(t AS TIMESTAMP)) AS DATE)",
  "CREATE MACRO toMonday(t) AS CAST(date_trunc('week', CAST(t AS TIMESTAMP)) AS DATE)",
  // ClickHouse's default week (mode 0) starts on Sunday.
  'CREATE MACRO toStartOfWeek(t) AS CAST(CAST(t AS DATE) - CAST(dayofweek(CAST(t AS DATE)) AS INTEGER) AS DATE)',
  'CREATE MACRO formatDateTime(t, format) AS strftime(CAST(t AS TIMESTAMP), format)',
  'CREATE MACRO toDateTime(t) AS CAST(t AS TIMESTAMP)',
  'CREATE MACRO toUnixTimestamp(t) AS CAST(epoch(CAST(t AS TIMESTAMP)) AS BIGINT)',
  'CREATE MACRO toHour(t) AS hour(t)',
  'CREATE MACRO toMinute(t) AS minute(t)',
  'CREATE MACRO toDayOfWeek(t) AS isodow(t)',
  "CREATE MACRO toYYYYMMDD(t) AS CAST(strftime(CAST(t AS TIMESTAMP), '%Y%m%d') AS INTEGER)",
  'CREATE MACRO toString(x) AS CAST(x AS VARCHAR)',
  'CREATE MACRO toInt32(x) AS CAST(x AS INTEGER)',
  'CREATE MACRO toInt64(x) AS CAST(x AS BIGINT)',
  'CREATE MACRO toUInt32(x) AS CAST(x AS UINTEGER)',
  'CREATE MACRO toUInt64(x) AS CAST(x AS UBIGINT)',
  'CREATE MACRO toFloat64(x) AS CAST(x AS DOUBLE)',
  'CREATE MACRO intDiv(a, b) AS a // b',
  "CREATE MACRO empty(s) AS (s = '')",
  "CREATE MACRO notEmpty(s) AS (s <> '')",
  'CREATE MACRO match(s, pattern) AS regexp_matches(s, pattern)',
  'CREATE MACRO replaceAll(s, from_text, to_text) AS replace(s, from_text, to_text)',
  'CREATE MACRO startsWith(s, prefix) AS starts_with(s, prefix)',
  'CREATE MACRO endsWith(s, suffix) AS ends_with(s, suffix)',
  'CREATE MACRO trimBoth(s) AS trim(s)',
  'CREATE MACRO splitByChar(separator, s) AS string_split(s, separator)',
  "CREATE MACRO domain(url) AS regexp_extract(url, '^(?:[A-Za-z][A-Za-z0-9+.-]*://)?([^/:?#]*)', 1)",
  "CREATE MACRO path(url) AS regexp_extract(url, '^(?:[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)?([^?#]*)', 1)",
  'CREATE MACRO isNotNull(x) AS (x IS NOT NULL)',
  'CREATE MACRO multiIf(c1, v1, otherwise) AS CASE WHEN c1 THEN v1 ELSE otherwise END, (c1, v1, c2, v2, otherwise) AS CASE WHEN c1 THEN v1 WHEN c2 THEN v2 ELSE otherwise END, (c1, v1, c2, v2, c3, v3, otherwise) AS CASE WHEN c1 THEN v1 WHEN c2 THEN v2 WHEN c3 THEN v3 ELSE otherwise END',
  'CREATE MACRO anyLast(x) AS last(x)',
  // ClickHouse's replaceOne: the first occurrence only, no pattern (DuckDB's regexp_replace would read one).
  "CREATE MACRO replaceOne(s, from_text, to_text) AS CASE WHEN from_text = '' OR strpos(s, from_text) = 0 THEN s ELSE left(s, strpos(s, from_text) - 1) || to_text || substr(s, strpos(s, from_text) + length(from_text)) END",
  // Keywords in DuckDB's grammar: calls of isNull, like, ilike and notLike are renamed to these (calls.ts).
  'CREATE MACRO __inlet_is_null(x) AS (x IS NULL)',
  'CREATE MACRO __inlet_like(s, pattern) AS (s LIKE pattern)',
  'CREATE MACRO __inlet_ilike(s, pattern) AS (s ILIKE pattern)',
  'CREATE MACRO __inlet_not_like(s, pattern) AS (s NOT LIKE pattern)',
];
