import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { csvOf, logRows } from './helpers/data.js';
import { startWithEvents, type TestInlet } from './helpers/inlet.js';

// Six hours of rows, one every 15 s from 2024-01-01 00:00: 24 partitions of 15 minutes, 60 rows each.
const HOURS = 6;
const ROWS = HOURS * 240;

let inlet: TestInlet;
let stop: () => Promise<void>;

before(async () => {
  ({ inlet, stop } = await startWithEvents('pruning', csvOf(logRows(ROWS, Date.UTC(2024, 0, 1), 15))));
});
after(async () => stop?.());

/** Runs `where` as a count with FORMAT JSON: the count and the partitions read. */
async function countWhere(where: string): Promise<{ count: number; read: number; considered: number }> {
  const result = await inlet.api.query(`SELECT count() AS n FROM website.events ${where} FORMAT JSON`);
  assert.equal(result.status, 200, result.text);
  return { count: Number(result.body.data[0].n), read: result.body.statistics.partitions_read, considered: result.body.statistics.partitions_considered };
}

describe('partition pruning', () => {
  const cases: [string, string, number, number][] = [
    ['no time predicate reads every partition', '', ROWS, 24],
    ['a half-open hour reads the 4 partitions of that hour', "WHERE timestamp >= '2024-01-01 01:00:00' AND timestamp < '2024-01-01 02:00:00'", 240, 4],
    ['an inclusive upper bound also reads the partition starting at it', "WHERE timestamp >= '2024-01-01 01:00:00' AND timestamp <= '2024-01-01 02:00:00'", 241, 5],
    ['BETWEEN', "WHERE timestamp BETWEEN '2024-01-01 03:10:00' AND '2024-01-01 03:20:00'", 41, 2],
    ['constant on the left', "WHERE '2024-01-01 05:00:00' <= timestamp", 240, 4],
    ['equality', "WHERE timestamp = '2024-01-01 02:30:15'", 1, 1],
    ['toDateTime(...) - INTERVAL arithmetic', "WHERE timestamp > toDateTime('2024-01-01 05:00:00') - INTERVAL 30 MINUTE", 359, 6],
    ['now() - INTERVAL: nothing of 2024 is in the last hour', 'WHERE timestamp > now() - INTERVAL 1 HOUR', 0, 0],
    ['typed literals', "WHERE timestamp >= TIMESTAMP '2024-01-01 00:00:00' AND timestamp < DATE '2024-01-01' + INTERVAL 15 MINUTE", 60, 1],
    ['qualified with the table alias, among other conditions', "AS e WHERE e.timestamp >= '2024-01-01 04:00:00' AND e.status = 200 AND e.timestamp < '2024-01-01 04:15:00'", 20, 1],
    ['an empty range reads nothing', "WHERE timestamp > '2024-01-01 03:00:00' AND timestamp < '2024-01-01 02:00:00'", 0, 0],
    ['OR is not pruned', "WHERE timestamp < '2024-01-01 00:15:00' OR status = 404", 60 + (ROWS - 60) / 3, 24],
    ['NOT of a comparison is the opposite comparison', "WHERE NOT (timestamp < '2024-01-01 05:45:00')", 60, 1],
    ['NOT of anything else is not pruned', "WHERE NOT (timestamp < '2024-01-01 05:45:00' AND status = 200)", ROWS - (ROWS - 60) / 3, 24],
    ['a function of the column is not pruned', "WHERE toStartOfHour(timestamp) = '2024-01-01 01:00:00'", 240, 24],
    ['a non-constant bound is not pruned', "WHERE timestamp > '2024-01-01 05:00:00'::TIMESTAMP + to_seconds(status - status)", 239, 24],
  ];
  for (const [what, where, count, read] of cases) {
    test(what, async () => {
      const result = await countWhere(where);
      assert.deepEqual(result, { count, read, considered: 24 });
    });
  }

  test('a CTE reading the table is pruned by its own WHERE', async () => {
    const result = await inlet.api.query("WITH hour AS (SELECT * FROM website.events WHERE timestamp >= '2024-01-01 01:00:00' AND timestamp < '2024-01-01 02:00:00') SELECT count() AS n FROM hour FORMAT JSON");
    assert.equal(result.body.data[0].n, '240');
    assert.equal(result.body.statistics.partitions_read, 4);
  });

  test('two reads of one table read the partitions of both ranges', async () => {
    const result = await inlet.api.query(
      "SELECT (SELECT count() FROM website.events WHERE timestamp < '2024-01-01 00:15:00') + (SELECT count() FROM website.events WHERE timestamp >= '2024-01-01 05:45:00') AS n FORMAT JSON",
    );
    assert.equal(result.body.data[0].n, '120');
    assert.equal(result.body.statistics.partitions_read, 24);
  });

  test('a read the analysis cannot bound (a join) reads everything', async () => {
    const result = await inlet.api.query("SELECT count() AS n FROM website.events a JOIN website.events b ON a.timestamp = b.timestamp WHERE a.timestamp < '2024-01-01 00:15:00' FORMAT JSON");
    assert.equal(result.body.data[0].n, '60');
    assert.equal(result.body.statistics.partitions_read, 24);
  });

  test('EXPLAIN reports the partitions considered and read, and the plan', async () => {
    const result = await inlet.api.query("EXPLAIN SELECT count() FROM website.events WHERE timestamp >= '2024-01-01 01:00:00' AND timestamp < '2024-01-01 02:00:00'");
    assert.equal(result.status, 200, result.text);
    const lines = result.text.split('\n');
    assert.equal(lines[0], 'website.events: 4 of 24 partitions, 240 rows');
    assert.match(result.text, /READ_PARQUET|PARQUET_SCAN|TABLE_SCAN/i);
  });
});

describe('query settings', () => {
  const HOUR = "WHERE timestamp >= '2024-01-01 01:00:00' AND timestamp < '2024-01-01 02:00:00'";

  test('hdx_query_max_rows counts the rows of the partitions read, after pruning', async () => {
    const whole = await inlet.api.query('SELECT count() FROM website.events SETTINGS hdx_query_max_rows = 1000');
    assert.equal(whole.status, 400);
    assert.match(whole.body.error, /would read 1440 rows, hdx_query_max_rows is 1000.*\(TOO_MANY_ROWS\)/);
    const hour = await inlet.api.query(`SELECT count() FROM website.events ${HOUR} SETTINGS hdx_query_max_rows = 1000`);
    assert.equal(hour.text, '240\n');
  });

  test('hdx_query_max_result_rows refuses a larger answer with a 400', async () => {
    const over = await inlet.api.query('SELECT timestamp FROM website.events SETTINGS hdx_query_max_result_rows = 100');
    assert.equal(over.status, 400);
    assert.match(over.body.error, /hdx_query_max_result_rows=100.*TOO_MANY_ROWS_OR_BYTES/);
    const fits = await inlet.api.query('SELECT timestamp FROM website.events ORDER BY timestamp LIMIT 100 SETTINGS hdx_query_max_result_rows = 100');
    assert.equal(fits.status, 200);
    assert.equal(fits.text.split('\n').length, 101);
  });

  test('hdx_query_max_result_bytes counts the formatted answer', async () => {
    // 5 rows of "2024-01-01 00:00:00\n": 100 bytes.
    const sql = 'SELECT timestamp FROM website.events ORDER BY timestamp LIMIT 5';
    assert.equal((await inlet.api.query(`${sql} SETTINGS hdx_query_max_result_bytes = 100`)).status, 200);
    const over = await inlet.api.query(`${sql} SETTINGS hdx_query_max_result_bytes = 99`);
    assert.equal(over.status, 400);
    assert.match(over.body.error, /hdx_query_max_result_bytes=99/);
  });

  test('hdx_query_timerange_required refuses a query without a time range', async () => {
    const none = await inlet.api.query('SELECT count() FROM website.events SETTINGS hdx_query_timerange_required = true');
    assert.equal(none.status, 400);
    assert.match(none.body.error, /website\.events has no time range.*TIMERANGE_REQUIRED/);
    const lower = await inlet.api.query("SELECT count() FROM website.events WHERE timestamp >= '2024-01-01 05:00:00' SETTINGS hdx_query_timerange_required = 1");
    assert.equal(lower.text, '240\n');
  });

  test('hdx_query_max_timerange_sec caps the span; an open end counts up to now', async () => {
    const hour = await inlet.api.query(`SELECT count() FROM website.events ${HOUR} SETTINGS hdx_query_max_timerange_sec = 3600`);
    assert.equal(hour.text, '240\n');
    const wide = await inlet.api.query("SELECT count() FROM website.events WHERE timestamp BETWEEN '2024-01-01 00:00:00' AND '2024-01-01 02:00:00' SETTINGS hdx_query_max_timerange_sec = 3600");
    assert.equal(wide.status, 400);
    assert.match(wide.body.error, /spans 7200 seconds, more than hdx_query_max_timerange_sec=3600/);
    const open = await inlet.api.query("SELECT count() FROM website.events WHERE timestamp >= '2024-01-01 05:00:00' SETTINGS hdx_query_max_timerange_sec = 3600");
    assert.equal(open.status, 400);
    const none = await inlet.api.query('SELECT count() FROM website.events SETTINGS hdx_query_max_timerange_sec = 3600');
    assert.match(none.body.error, /no lower time bound/);
  });

  test('precedence: header < query string < SETTINGS clause', async () => {
    const sql = 'SELECT timestamp FROM website.events ORDER BY timestamp LIMIT 3';
    const query = (queryString: string, headers: Record<string, string> = {}, clause = '') => inlet.api.request('POST', `/query${queryString}`, `${sql} ${clause}`, { 'content-type': 'text/plain', ...headers });
    const header = { 'x-hdx-query-settings': 'hdx_query_max_result_rows=2,hdx_query_comment=dashboard' };
    assert.equal((await query('', header)).status, 400, 'the header applies');
    assert.equal((await query('?hdx_query_max_result_rows=3', header)).status, 200, 'the query string beats the header');
    assert.equal((await query('?hdx_query_max_result_rows=2')).status, 400, 'the query string applies');
    assert.equal((await query('?hdx_query_max_result_rows=2', {}, 'SETTINGS hdx_query_max_result_rows = 3')).status, 200, 'SETTINGS beats the query string');
    assert.equal((await query('?hdx_query_max_result_rows=3', header, 'SETTINGS hdx_query_max_result_rows = 2')).status, 400, 'SETTINGS beats both');
  });

  test('GET takes settings from the query string too', async () => {
    const sql = encodeURIComponent('SELECT timestamp FROM website.events LIMIT 3');
    const result = await inlet.api.request('GET', `/query?query=${sql}&hdx_query_max_result_rows=2`);
    assert.equal(result.status, 400);
  });

  test('SETTINGS and FORMAT in either order', async () => {
    const a = await inlet.api.query('SELECT 1 AS x SETTINGS hdx_query_max_result_rows = 5 FORMAT JSONEachRow');
    const b = await inlet.api.query('SELECT 1 AS x FORMAT JSONEachRow SETTINGS hdx_query_max_result_rows = 5');
    assert.equal(a.text, '{"x":1}\n');
    assert.equal(b.text, '{"x":1}\n');
  });

  test('unknown settings and bad values are refused by name', async () => {
    const unknown = await inlet.api.query('SELECT 1 SETTINGS max_threads = 64');
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error, /Unknown setting max_threads: Inlet supports hdx_query_max_rows/);
    const bad = await inlet.api.request('POST', '/query?hdx_query_max_rows=lots', 'SELECT 1', { 'content-type': 'text/plain' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /hdx_query_max_rows=lots is not valid/);
    const header = await inlet.api.request('POST', '/query', 'SELECT 1', { 'content-type': 'text/plain', 'x-hdx-query-settings': 'nonsense' });
    assert.equal(header.status, 400);
  });

  test('hdx_query_max_execution_time interrupts DuckDB', async () => {
    const started = Date.now();
    const result = await inlet.api.query('SELECT sum(hash(range)) FROM range(10000000000) SETTINGS hdx_query_max_execution_time = 0.3');
    assert.equal(result.status, 400, result.text);
    assert.match(result.body.error, /^Code: 159\. DB::Exception: Timeout exceeded: elapsed [\d.]+ seconds, maximum: 0.3 \(TIMEOUT_EXCEEDED\)$/);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.equal((await inlet.api.query('SELECT count() FROM website.events')).text, '1440\n', 'the service still answers');
  });
});
