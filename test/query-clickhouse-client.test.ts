import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ClickHouseError, ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { csvOf, logRows } from './helpers/data.js';
import { ADMIN, startWithEvents, type TestInlet } from './helpers/inlet.js';

// The official ClickHouse client for Node, pointed at Inlet as a user would: url, pathname /query.
// 20000 rows, one a second from 2024-01-01 00:00: hosts a, b, c in turn; status 200, 404, 500 in turn.
const ROWS = 20_000;
// Errors are expected here: the client would log each one besides raising it.
const log = { level: ClickHouseLogLevel.OFF };
let inlet: TestInlet;
let stop: () => Promise<void>;
let client: ClickHouseClient;

before(async () => {
  ({ inlet, stop } = await startWithEvents('chclient', csvOf(logRows(ROWS, Date.UTC(2024, 0, 1), 1))));
  client = createClient({ url: inlet.api.url, pathname: '/query', username: ADMIN.username, password: ADMIN.password, log });
});
after(async () => {
  await client?.close();
  await stop?.();
});

describe('the official @clickhouse/client against Inlet', () => {
  test('ping', async () => {
    const answer = await client.ping();
    assert.equal(answer.success, true, JSON.stringify(answer));
    const head = await fetch(`${inlet.api.url}/query/ping`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  test('JSONEachRow, with 64-bit counts as strings', async () => {
    const result = await client.query({ query: 'SELECT host, count() AS n FROM website.events GROUP BY host ORDER BY host', format: 'JSONEachRow' });
    assert.deepEqual(await result.json(), [
      { host: 'a.example.com', n: '6667' },
      { host: 'b.example.com', n: '6667' },
      { host: 'c.example.com', n: '6666' },
    ]);
    assert.equal(result.response_headers['x-clickhouse-format'], 'JSONEachRow');
    const summary = JSON.parse(String(result.response_headers['x-clickhouse-summary']));
    assert.equal(summary.read_rows, String(ROWS));
  });

  test('JSON, with meta, rows and statistics', async () => {
    const result = await client.query({ query: 'SELECT min(timestamp) AS first, count() AS n FROM website.events', format: 'JSON' });
    const answer = await result.json<{ first: string; n: string }>();
    assert.deepEqual(answer.data, [{ first: '2024-01-01 00:00:00', n: String(ROWS) }]);
    assert.equal(answer.rows, 1);
    assert.deepEqual(
      answer.meta?.map((m) => m.name),
      ['first', 'n'],
    );
  });

  test("every JSON format of the client's, read by its own parsers", async () => {
    const query = 'SELECT host, count() AS n FROM website.events GROUP BY host ORDER BY host LIMIT 2';
    const rows = [
      ['a.example.com', '6667'],
      ['b.example.com', '6667'],
    ];
    const objects = rows.map(([host, n]) => ({ host, n }));
    const answers = {
      JSONStringsEachRow: objects,
      JSONCompactEachRow: rows,
      JSONCompactStringsEachRow: rows,
      JSONCompactEachRowWithNames: [['host', 'n'], ...rows],
      JSONCompactEachRowWithNamesAndTypes: [['host', 'n'], ['Nullable(String)', 'UInt64'], ...rows],
      JSONCompactStringsEachRowWithNames: [['host', 'n'], ...rows],
      JSONCompactStringsEachRowWithNamesAndTypes: [['host', 'n'], ['Nullable(String)', 'UInt64'], ...rows],
      JSONObjectEachRow: { row_1: objects[0], row_2: objects[1] },
    } as const;
    for (const [format, expected] of Object.entries(answers)) {
      const result = await client.query({ query, format: format as keyof typeof answers });
      assert.deepEqual(await result.json(), expected, format);
    }
    for (const format of ['JSONStrings', 'JSONCompactStrings'] as const) {
      const answer = await (await client.query({ query, format })).json<unknown>();
      assert.deepEqual((answer as { data: unknown }).data, format === 'JSONStrings' ? objects : rows, format);
    }
    // Streamed, a row at a time, as the client reads its streamable formats.
    const stream = (await client.query({ query, format: 'JSONCompactEachRowWithNamesAndTypes' })).stream();
    const streamed: unknown[] = [];
    for await (const batch of stream) for (const row of batch) streamed.push(row.json());
    assert.deepEqual(streamed, answers.JSONCompactEachRowWithNamesAndTypes);
  });

  test('the schema, as SQL tools list it: SHOW TABLES and system.columns', async () => {
    assert.deepEqual(await (await client.query({ query: 'SHOW TABLES FROM website', format: 'JSONEachRow' })).json(), [{ name: 'events' }]);
    const columns = await client.query({ query: "SELECT name, type FROM system.columns WHERE database = 'website' AND table = 'events' ORDER BY position LIMIT 2", format: 'JSONEachRow' });
    assert.deepEqual(await columns.json(), [
      { name: 'timestamp', type: 'DateTime' },
      { name: 'host', type: 'Nullable(String)' },
    ]);
  });

  test('CSVWithNames', async () => {
    const result = await client.query({ query: 'SELECT status, count() AS n FROM website.events GROUP BY status ORDER BY status', format: 'CSVWithNames' });
    assert.equal(await result.text(), '"status","n"\n200,6667\n404,6667\n500,6666\n');
  });

  test('a large result streams row by row', async () => {
    const result = await client.query({ query: 'SELECT timestamp, host, status, bytes FROM website.events ORDER BY timestamp', format: 'JSONEachRow' });
    let rows = 0;
    let last: { bytes: string } | undefined;
    for await (const batch of result.stream<{ bytes: string }>()) {
      for (const row of batch) {
        rows++;
        last = row.json();
      }
    }
    assert.equal(rows, ROWS);
    assert.equal(last?.bytes, String(1000 + ROWS - 1));
  });

  test('query parameters {name:Type}', async () => {
    const result = await client.query({
      query: 'SELECT count() AS n FROM website.events WHERE host = {host:String} AND timestamp >= {from:DateTime} AND status IN {codes:Array(UInt16)}',
      query_params: { host: 'a.example.com', from: new Date(Date.UTC(2024, 0, 1, 1)), codes: [200, 404] },
      format: 'JSONEachRow',
    });
    // From 01:00 on: seconds 3600..19999; host a is every third second (i % 3 == 0), where status is 200.
    const expected = logRows(ROWS, Date.UTC(2024, 0, 1), 1).filter((r) => r.host === 'a.example.com' && r.time.getTime() >= Date.UTC(2024, 0, 1, 1)).length;
    assert.deepEqual(await result.json(), [{ n: String(expected) }]);
    const auth = { authorization: `Bearer ${inlet.api.token}` };
    const missing = await fetch(`${inlet.api.url}/query`, { method: 'POST', headers: auth, body: 'SELECT {n:UInt8}' });
    assert.equal(missing.status, 400);
    assert.equal(missing.headers.get('x-clickhouse-exception-code'), '456');
    const notANumber = await fetch(`${inlet.api.url}/query?param_n=${encodeURIComponent('1; DROP TABLE x')}`, { method: 'POST', headers: auth, body: 'SELECT {n:UInt8}' });
    assert.match(((await notANumber.json()) as { error: string }).error, /param_n=1; DROP TABLE x is not a valid UInt8: send a whole number \(BAD_ARGUMENTS\)/);
    const struct = await fetch(`${inlet.api.url}/query`, { method: 'POST', headers: auth, body: "SELECT {a: 1}['a'] AS v" });
    assert.equal(await struct.text(), '1\n');
    const quoted = await client.query({ query: 'SELECT {s:String} AS s', query_params: { s: "it's a\ttab \\ and 'quotes'" }, format: 'JSONEachRow' });
    assert.deepEqual(await quoted.json(), [{ s: "it's a\ttab \\ and 'quotes'" }]);
  });

  test('settings as URL parameters: ClickHouse names and hdx_query_*', async () => {
    await assert.rejects(
      client.query({ query: 'SELECT host FROM website.events', format: 'JSONEachRow', clickhouse_settings: { max_result_rows: '5' } }),
      (err: unknown) => err instanceof ClickHouseError && err.type === 'TOO_MANY_ROWS_OR_BYTES' && err.code === '396',
    );
    const limited = client.query({ query: 'SELECT host FROM website.events', format: 'JSONEachRow', clickhouse_settings: { hdx_query_max_result_rows: '5' } as Record<string, string> });
    await assert.rejects(limited, (err: unknown) => err instanceof ClickHouseError && /hdx_query_max_result_rows=5/.test(err.message));
    const fine = await client.query({ query: 'SELECT 1 AS one', format: 'JSONEachRow', clickhouse_settings: { max_execution_time: 30, readonly: '1', wait_end_of_query: 1 } });
    assert.deepEqual(await fine.json(), [{ one: 1 }]);
  });

  test("an error is the client's ClickHouseError, with code and name", async () => {
    await assert.rejects(client.query({ query: 'SELECT no_such_column FROM website.events', format: 'JSONEachRow' }), (err: unknown) => {
      assert.ok(err instanceof ClickHouseError, String(err));
      assert.equal(err.type, 'UNKNOWN_IDENTIFIER');
      assert.equal(err.code, '47');
      assert.match(err.message, /no_such_column/);
      return true;
    });
    await assert.rejects(client.query({ query: 'SELECT 1 FROM website.nothing' }), (err: unknown) => err instanceof ClickHouseError && err.type === 'UNKNOWN_TABLE' && err.code === '60');
    const raw = await fetch(`${inlet.api.url}/query`, { method: 'POST', headers: { authorization: `Bearer ${inlet.api.token}` }, body: 'SELEC 1' });
    assert.equal(raw.status, 400);
    assert.equal(raw.headers.get('x-clickhouse-exception-code'), '62');
    assert.match(((await raw.json()) as { error: string }).error, /^Code: 62\. DB::Exception: Syntax error: .*SELEC.*\(SYNTAX_ERROR\)$/);
  });

  test('X-ClickHouse-User and X-ClickHouse-Key instead of basic auth', async () => {
    const headers = createClient({
      url: inlet.api.url,
      pathname: '/query',
      log,
      set_basic_auth_header: false,
      http_headers: { 'X-ClickHouse-User': ADMIN.username, 'X-ClickHouse-Key': ADMIN.password },
    });
    try {
      const result = await headers.query({ query: 'SELECT count() AS n FROM website.events', format: 'JSONEachRow' });
      assert.deepEqual(await result.json(), [{ n: String(ROWS) }]);
    } finally {
      await headers.close();
    }
    const wrong = createClient({ url: inlet.api.url, pathname: '/query', log, set_basic_auth_header: false, http_headers: { 'X-ClickHouse-User': ADMIN.username, 'X-ClickHouse-Key': 'nope' } });
    try {
      await assert.rejects(wrong.query({ query: 'SELECT 1' }));
    } finally {
      await wrong.close();
    }
  });

  test('the SQL whatever the content type, ?query=, default_format and query_id', async () => {
    const auth = { authorization: `Bearer ${inlet.api.token}` };
    for (const type of ['application/json', 'application/octet-stream', 'text/xml']) {
      const response = await fetch(`${inlet.api.url}/query`, { method: 'POST', headers: { ...auth, 'content-type': type }, body: 'SELECT 41 + 1' });
      assert.equal(await response.text(), '42\n', type);
    }
    const byUrl = await fetch(`${inlet.api.url}/query?query=${encodeURIComponent('SELECT 7 AS seven')}&default_format=JSONEachRow&query_id=mine-1`, { headers: auth });
    assert.equal(await byUrl.text(), '{"seven":7}\n');
    assert.equal(byUrl.headers.get('x-clickhouse-query-id'), 'mine-1');
    assert.equal(byUrl.headers.get('x-clickhouse-format'), 'JSONEachRow');
    // A FORMAT clause wins over default_format, as in ClickHouse.
    const clause = await fetch(`${inlet.api.url}/query?default_format=JSONEachRow`, { method: 'POST', headers: auth, body: 'SELECT 7 AS seven FORMAT CSV' });
    assert.equal(await clause.text(), '7\n');
  });
});
