import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { referenceJob } from './helpers/data.js';
import { ADMIN, startWithEvents, type TestInlet } from './helpers/inlet.js';

const column = (name: string, datatype: Record<string, unknown>) => ({ name, datatype });

// Result types as ClickHouse names them, and values printed as those types print: a table
// with a millisecond primary timestamp, a nullable second-resolution one, a UInt64 past 2^53.
const PRECISE = {
  name: 'precise',
  type: 'csv',
  settings: {
    is_default: true,
    compression: 'none',
    format_details: { delimiter: ',', skip_head: 1 },
    output_columns: [
      column('timestamp', { type: 'datetime64', primary: true, resolution: 'ms', format: '2006-01-02 15:04:05.000', source: { from_input_index: 0 } }),
      column('seen', { type: 'datetime', format: '2006-01-02 15:04:05', source: { from_input_index: 1 } }),
      column('n', { type: 'uint64', source: { from_input_index: 2 } }),
      column('note', { type: 'string', source: { from_input_index: 3 } }),
    ],
  },
};
const ROWS = ['timestamp,seen,n,note', '2024-01-01 00:00:00.120,2024-01-01 00:00:07,18446744073709551615,a', '2024-01-01 00:00:01.000,,1,b'];

let inlet: TestInlet;
let stop: () => Promise<void>;
let client: ClickHouseClient;

before(async () => {
  let s3;
  ({ inlet, s3, stop } = await startWithEvents('types', 'timestamp,host,status,bytes,latency,cached\n2024-01-01 00:00:00,a,200,1,0.5,true\n'));
  const api = inlet.api;
  const projects = await api.request('GET', `/config/v1/orgs/${api.orgId}/projects/`);
  const project = projects.body.find((p: { name: string }) => p.name === 'website');
  const base = `/config/v1/orgs/${api.orgId}/projects/${project.uuid}/tables/`;
  const table = await api.request('POST', base, { name: 'precise', settings: {} });
  assert.equal(table.status, 201, table.text);
  const transform = await api.request('POST', `${base}${table.body.uuid}/transforms/`, PRECISE);
  assert.equal(transform.status, 201, transform.text);
  await s3.put('types', 'precise/rows.csv', ROWS.join('\n') + '\n');
  const job = referenceJob('load precise', 's3://types/precise/', { transform: 'precise' });
  job.settings.source.table = 'website.precise';
  const created = await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch`, job);
  const done = await api.waitForJob(created.body.uuid);
  assert.equal(done.status, 'done', JSON.stringify(done.details));
  client = createClient({ url: inlet.api.url, pathname: '/query', username: ADMIN.username, password: ADMIN.password, log: { level: ClickHouseLogLevel.OFF } });
});
after(async () => {
  await client?.close();
  await stop?.();
});

const metaOf = (body: { meta: { name: string; type: string }[] }) => Object.fromEntries(body.meta.map((m) => [m.name, m.type]));

describe('FORMAT JSON meta types match the values', () => {
  test("a table's columns: the primary as stored, the others Nullable, milliseconds printed as DateTime64(3)", async () => {
    const result = await inlet.api.query('SELECT timestamp, seen, n, note FROM website.precise ORDER BY timestamp FORMAT JSON');
    assert.equal(result.status, 200, result.text);
    assert.deepEqual(metaOf(result.body), { timestamp: 'DateTime64(3)', seen: 'Nullable(DateTime)', n: 'Nullable(UInt64)', note: 'Nullable(String)' });
    assert.deepEqual(result.body.data, [
      { timestamp: '2024-01-01 00:00:00.120', seen: '2024-01-01 00:00:07', n: '18446744073709551615', note: 'a' },
      { timestamp: '2024-01-01 00:00:01.000', seen: null, n: '1', note: 'b' },
    ]);
  });

  test('SELECT * types the columns the same way', async () => {
    const result = await inlet.api.query('SELECT * FROM website.precise ORDER BY timestamp LIMIT 1 FORMAT JSONCompact');
    assert.deepEqual(metaOf(result.body), { timestamp: 'DateTime64(3)', seen: 'Nullable(DateTime)', n: 'Nullable(UInt64)', note: 'Nullable(String)' });
    assert.deepEqual(result.body.data, [['2024-01-01 00:00:00.120', '2024-01-01 00:00:07', '18446744073709551615', 'a']]);
  });

  test('aggregates: counts are UInt64, min/max keep their column type', async () => {
    const result = await inlet.api.query('SELECT count() AS c, max(timestamp) AS last, min(seen) AS first_seen, uniq(note) AS u, countIf(n > 1) AS big FROM website.precise FORMAT JSON');
    assert.deepEqual(metaOf(result.body), { c: 'UInt64', last: 'DateTime64(3)', first_seen: 'Nullable(DateTime)', u: 'UInt64', big: 'UInt64' });
    assert.deepEqual(result.body.data, [{ c: '2', last: '2024-01-01 00:00:01.000', first_seen: '2024-01-01 00:00:07', u: '2', big: '1' }]);
  });

  test("ClickHouse's DateTime and Date functions, interval arithmetic, DuckDB's own timestamps", async () => {
    const result = await inlet.api.query(
      'SELECT toStartOfHour(timestamp) AS hour, timestamp + INTERVAL 1 SECOND AS later, toDate(timestamp) + INTERVAL 1 DAY AS tomorrow, ' +
        "toDateTime64('2024-01-01 00:00:00.5', 3) AS t3, CAST(timestamp AS TIMESTAMP) + INTERVAL 1 MICROSECOND AS fine, now() AS now " +
        'FROM website.precise ORDER BY timestamp LIMIT 1 FORMAT JSONCompact',
    );
    assert.equal(result.status, 200, result.text);
    assert.deepEqual(metaOf(result.body), { hour: 'DateTime', later: 'DateTime64(3)', tomorrow: 'Date', t3: 'DateTime64(3)', fine: 'DateTime64(6)', now: 'DateTime' });
    const [row] = result.body.data;
    assert.deepEqual(row.slice(0, 5), ['2024-01-01 00:00:00', '2024-01-01 00:00:01.120', '2024-01-02', '2024-01-01 00:00:00.500', '2024-01-01 00:00:00.120001']);
    assert.match(row[5], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });

  test('TabSeparated prints the same values as JSON', async () => {
    const result = await inlet.api.query('SELECT timestamp, toDate(timestamp) + INTERVAL 1 DAY AS tomorrow FROM website.precise ORDER BY timestamp');
    assert.equal(result.text, '2024-01-01 00:00:00.120\t2024-01-02\n2024-01-01 00:00:01.000\t2024-01-02\n');
  });

  test('TabSeparatedWithNamesAndTypes and CSVWithNamesAndTypes', async () => {
    const sql = 'SELECT timestamp, n, count() AS c FROM website.precise GROUP BY timestamp, n ORDER BY timestamp';
    const tsv = await inlet.api.query(`${sql} FORMAT TSVWithNamesAndTypes`);
    assert.equal(tsv.text, 'timestamp\tn\tc\nDateTime64(3)\tNullable(UInt64)\tUInt64\n2024-01-01 00:00:00.120\t18446744073709551615\t1\n2024-01-01 00:00:01.000\t1\t1\n');
    const csv = await inlet.api.query(`${sql} FORMAT CSVWithNamesAndTypes`);
    assert.equal(csv.text, '"timestamp","n","c"\n"DateTime64(3)","Nullable(UInt64)","UInt64"\n"2024-01-01 00:00:00.120",18446744073709551615,1\n"2024-01-01 00:00:01.000",1,1\n');
  });

  test('output_format_json_quote_64bit_integers=0 writes 64-bit integers as numbers', async () => {
    const sql = 'SELECT n, count() AS c FROM website.precise WHERE n = 1 GROUP BY n';
    const quoted = await inlet.api.query(`${sql} FORMAT JSONEachRow`);
    assert.equal(quoted.text, '{"n":"1","c":"1"}\n');
    const bare = await inlet.api.query(`${sql} FORMAT JSONEachRow SETTINGS output_format_json_quote_64bit_integers = 0`);
    assert.equal(bare.text, '{"n":1,"c":1}\n');
    const response = await fetch(`${inlet.api.url}/query?output_format_json_quote_64bit_integers=0&default_format=JSONCompact`, {
      method: 'POST',
      headers: { authorization: `Bearer ${inlet.api.token}` },
      body: sql,
    });
    assert.deepEqual(((await response.json()) as { data: unknown }).data, [[1, 1]]);
  });
});

describe('through @clickhouse/client', () => {
  test('JSON meta and values', async () => {
    const result = await client.query({ query: 'SELECT timestamp, seen, n, count() AS c FROM website.precise GROUP BY ALL ORDER BY timestamp', format: 'JSON' });
    const answer = await result.json<{ timestamp: string; seen: string | null; n: string; c: string }>();
    assert.deepEqual(answer.meta, [
      { name: 'timestamp', type: 'DateTime64(3)' },
      { name: 'seen', type: 'Nullable(DateTime)' },
      { name: 'n', type: 'Nullable(UInt64)' },
      { name: 'c', type: 'UInt64' },
    ]);
    assert.deepEqual(answer.data[1], { timestamp: '2024-01-01 00:00:01.000', seen: null, n: '1', c: '1' });
  });

  test('the quote setting sent as a client setting', async () => {
    const result = await client.query({
      query: 'SELECT count() AS c FROM website.precise',
      format: 'JSONEachRow',
      clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
    });
    assert.deepEqual(await result.json(), [{ c: 2 }]);
  });
});
