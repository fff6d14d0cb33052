import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_QUERY_BYTES, parseStatement } from '../src/query/statement.js';
import { csvOf, logRows } from './helpers/data.js';
import { startWithEvents, type TestInlet } from './helpers/inlet.js';

// 12 rows, one every 2 minutes from 2024-01-01 00:00: hosts a, b, c in turn; status 200, 404, 500 in turn.
let inlet: TestInlet;
let stop: () => Promise<void>;

before(async () => {
  ({ inlet, stop } = await startWithEvents('clickhouse', csvOf(logRows(12, Date.UTC(2024, 0, 1), 120))));
});
after(async () => stop?.());

const tsv = async (sql: string) => {
  const result = await inlet.api.query(sql);
  assert.equal(result.status, 200, result.text);
  return result.text;
};

describe('ClickHouse functions', () => {
  const cases: [string, string, string][] = [
    ['count()', 'SELECT count() FROM website.events', '12\n'],
    ['countIf', 'SELECT countIf(status = 404) FROM website.events', '4\n'],
    ['uniq and uniqExact', 'SELECT uniq(host), uniqExact(host), uniqExact(status) FROM website.events', '3\t3\t3\n'],
    [
      'sumIf, avgIf, minIf, maxIf',
      "SELECT sumIf(bytes, status = 200), avgIf(bytes, status = 200), minIf(bytes, host = 'b.example.com'), maxIf(bytes, host = 'b.example.com') FROM website.events",
      '4018\t1004.5\t1001\t1010\n',
    ],
    // bytes are 1000..1011: ClickHouse interpolates quantile (0.5 → 1005.5) and picks floor(level * n) for quantileExact.
    ['quantile(level)(x)', 'SELECT quantile(0.5)(bytes), quantile(0.9)(bytes) FROM website.events', '1005.5\t1009.9\n'],
    ['quantiles(levels)(x)', 'SELECT quantiles(0.5, 0.9)(bytes) FROM website.events', '[1005.5,1009.9]\n'],
    ['quantileExact(level)(x)', 'SELECT quantileExact(0.5)(bytes), quantileExact(1)(bytes) FROM website.events', '1006\t1011\n'],
    ['median', 'SELECT median(bytes) FROM website.events', '1005.5\n'],
    ['toStartOfMinute', "SELECT toStartOfMinute(TIMESTAMP '2024-01-01 10:07:59')", '2024-01-01 10:07:00\n'],
    ['toStartOfFiveMinutes', "SELECT toStartOfFiveMinutes(TIMESTAMP '2024-01-01 10:07:59'), toStartOfFiveMinute(TIMESTAMP '2024-01-01 10:05:00')", '2024-01-01 10:05:00\t2024-01-01 10:05:00\n'],
    ['toStartOfFifteenMinutes', "SELECT toStartOfFifteenMinutes(TIMESTAMP '2024-01-01 10:29:59')", '2024-01-01 10:15:00\n'],
    ['toStartOfHour', "SELECT toStartOfHour(TIMESTAMP '2024-01-01 10:07:59')", '2024-01-01 10:00:00\n'],
    ['toStartOfDay', "SELECT toStartOfDay(TIMESTAMP '2024-01-01 10:07:59')", '2024-01-01 00:00:00\n'],
    ['toDate', "SELECT toDate(TIMESTAMP '2024-01-01 10:07:59'), toDate('2024-02-03')", '2024-01-01\t2024-02-03\n'],
    ['toDateTime', "SELECT toDateTime('2024-01-01 10:07:59')", '2024-01-01 10:07:59\n'],
    ['toUnixTimestamp', "SELECT toUnixTimestamp(toDateTime('2024-01-01 00:00:00'))", '1704067200\n'],
    ['now() is a UTC DateTime', "SELECT now() > TIMESTAMP '2024-01-01 00:00:00', typeof(now()), now() = now()", 'true\tTIMESTAMP\ttrue\n'],
    [
      'INTERVAL n UNIT arithmetic',
      "SELECT toDateTime('2024-01-01 00:00:00') - INTERVAL 1 HOUR, toDateTime('2024-01-01 00:00:00') + INTERVAL 90 SECOND, toDate('2024-01-31') + INTERVAL 1 DAY",
      '2023-12-31 23:00:00\t2024-01-01 00:01:30\t2024-02-01\n',
    ],
    ['toString, toInt64, intDiv, empty, notEmpty', "SELECT toString(42), toInt64('7') + 1, intDiv(7, 2), empty(''), notEmpty('x')", '42\t8\t3\ttrue\ttrue\n'],
    [
      'a dashboard query: per-5-minute counts of the last window',
      "SELECT toStartOfFiveMinutes(timestamp) AS t, count() AS n, countIf(status >= 500) AS errors FROM website.events WHERE timestamp >= toDateTime('2024-01-01 00:00:00') AND timestamp < toDateTime('2024-01-01 00:00:00') + INTERVAL 15 MINUTE GROUP BY t ORDER BY t",
      '2024-01-01 00:00:00\t3\t1\n2024-01-01 00:05:00\t2\t0\n2024-01-01 00:10:00\t3\t1\n',
    ],
    ['any', 'SELECT any(host) FROM website.events WHERE status = 200 AND bytes = 1000', 'a.example.com\n'],
    [
      'isNull, like, notLike, ilike, position, replaceOne as calls',
      "SELECT isNull(host), like(host, 'a%'), notLike(host, 'a%'), ilike(host, 'A%'), position(host, '.'), replaceOne('aXbX', 'X', '-') FROM website.events WHERE bytes = 1000",
      'false\ttrue\tfalse\ttrue\t2\ta-bX\n',
    ],
    [
      "the same words as DuckDB's operators and syntax stay so",
      "SELECT 2 = ANY(SELECT 1 UNION ALL SELECT 2), 'abc' LIKE ('a%'), position('b' IN 'abc'), extract(hour FROM TIMESTAMP '2024-01-01 05:00:00'), extract('a1b22', '[0-9]+')",
      'true\ttrue\t2\t5\t1\n',
    ],
    ['WITH <expression> AS name, beside a CTE', 'WITH 1005 AS threshold, big AS (SELECT bytes FROM website.events WHERE bytes > threshold) SELECT count(), min(bytes) - threshold FROM big', '6\t1\n'],
    ['arrayJoin', 'SELECT arrayJoin([1, 2]) AS x ORDER BY x', '1\n2\n'],
    ['plain DuckDB SQL works too', 'SELECT host, list(status ORDER BY timestamp)[1] FROM website.events GROUP BY ALL ORDER BY host', 'a.example.com\t200\nb.example.com\t404\nc.example.com\t500\n'],
  ];
  for (const [what, sql, expected] of cases) test(what, async () => assert.equal(await tsv(sql), expected));
});

describe('LIMIT n BY', () => {
  test('keeps the first n rows of each group in ORDER BY order', async () => {
    const text = await tsv('SELECT host, bytes FROM website.events ORDER BY bytes DESC LIMIT 2 BY host');
    assert.equal(text, 'c.example.com\t1011\nb.example.com\t1010\na.example.com\t1009\nc.example.com\t1008\nb.example.com\t1007\na.example.com\t1006\n');
  });

  test('with a final LIMIT, aggregates and aliases in ORDER BY', async () => {
    const text = await tsv('SELECT host, status, count() AS n FROM website.events GROUP BY host, status ORDER BY n DESC, host, status LIMIT 1 BY host LIMIT 2');
    assert.equal(text, 'a.example.com\t200\t4\nb.example.com\t404\t4\n');
  });

  test('LIMIT n OFFSET m BY and LIMIT m, n BY', async () => {
    const a = await tsv('SELECT host, bytes FROM website.events ORDER BY host, bytes LIMIT 1 OFFSET 1 BY host');
    const b = await tsv('SELECT host, bytes FROM website.events ORDER BY host, bytes LIMIT 1, 1 BY host');
    assert.equal(a, 'a.example.com\t1003\nb.example.com\t1004\nc.example.com\t1005\n');
    assert.equal(b, a);
  });

  test('inside a subquery', async () => {
    const text = await tsv('SELECT count() FROM (SELECT host FROM website.events ORDER BY bytes LIMIT 1 BY host)');
    assert.equal(text, '3\n');
  });

  test('with DISTINCT it is refused, not answered differently', async () => {
    const result = await inlet.api.query('SELECT DISTINCT host, status FROM website.events ORDER BY host LIMIT 1 BY host');
    assert.equal(result.status, 400);
    assert.match(result.body.error, /LIMIT n BY together with DISTINCT in the same SELECT is not supported/);
  });
});

describe('statement parsing', () => {
  test('strings, quoted names and comments do not fool the clause finder', () => {
    const parsed = parseStatement("SELECT 'LIMIT 1 BY x' AS \"FORMAT JSON\" -- FORMAT CSV\nFROM t /* SETTINGS a = 1 */ SETTINGS hdx_query_max_rows = 5, hdx_query_comment = 'it''s' FORMAT CSVWithNames;");
    assert.equal(parsed.format, 'CSVWithNames');
    assert.deepEqual(parsed.settings, { hdx_query_max_rows: '5', hdx_query_comment: "it's" });
    assert.equal(parsed.sql, 'SELECT \'LIMIT 1 BY x\' AS "FORMAT JSON" -- FORMAT CSV\nFROM t /* SETTINGS a = 1 */');
  });

  test('EXPLAIN is taken off and flagged', () => {
    const parsed = parseStatement('EXPLAIN SELECT 1');
    assert.deepEqual({ explain: parsed.explain, sql: parsed.sql }, { explain: true, sql: 'SELECT 1' });
  });

  test('parametric calls are rewritten in one pass, nested ones too; a statement past max_query_size is refused unread', () => {
    assert.equal(parseStatement('SELECT quantile(0.5)(x), quantiles(0.1, 0.9)(quantile(0.5)(y))').sql, 'SELECT quantile_cont(x, 0.5), quantile_cont(quantile_cont(y, 0.5), [0.1, 0.9])');
    // A statement of thousands of calls once took a pass over the whole text per call, and stopped rewriting after 100.
    const many = `SELECT ${Array.from({ length: 5_000 }, () => 'quantile(0.5)(1)').join(', ')}`;
    assert.equal(parseStatement(many).sql.split('quantile_cont(1, 0.5)').length, 5_001);
    assert.throws(() => parseStatement(`SELECT '${'x'.repeat(MAX_QUERY_BYTES)}'`), /Max query size exceeded: the statement has 262153 bytes, at most 262144/);
    const limits = 'SELECT * FROM ('.repeat(17) + 'SELECT 1 AS a' + ') LIMIT 1 BY a'.repeat(17);
    assert.throws(() => parseStatement(limits), /at most 16 LIMIT n BY clauses/);
  });

  test("* EXCEPT is DuckDB's * EXCLUDE; EXCEPT between SELECTs stays a set operation", () => {
    assert.equal(parseStatement('SELECT * EXCEPT (a), t.* except b FROM t').sql, 'SELECT * EXCLUDE (a), t.* EXCLUDE b FROM t');
    assert.equal(parseStatement("SELECT '* EXCEPT' FROM t EXCEPT SELECT * FROM u").sql, "SELECT '* EXCEPT' FROM t EXCEPT SELECT * FROM u");
  });

  test('the LIMIT BY rewrite', () => {
    assert.equal(
      parseStatement('SELECT a, b FROM t WHERE x ORDER BY b DESC LIMIT 3 BY a LIMIT 10').sql,
      'SELECT a, b FROM t WHERE x QUALIFY row_number() OVER (PARTITION BY a ORDER BY b DESC) <= 3 ORDER BY b DESC LIMIT 10',
    );
  });
});
