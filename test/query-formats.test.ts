import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startWithEvents, type TestInlet } from './helpers/inlet.js';

const ROWS = [
  'timestamp,host,status,bytes,latency,cached',
  '2024-01-01 00:00:00,plain.example.com,200,10,0.5,true',
  '2024-01-01 00:00:01,"tab\there",404,20,1.25,false',
  '2024-01-01 00:00:02,"new\nline",500,,2,0',
  '2024-01-01 00:00:03,back\\slash,200,40,,1',
  '2024-01-01 00:00:04,"it\'s ""quoted"" /path",301,9007199254740993,-0.001,1',
];

let inlet: TestInlet;
let stop: () => Promise<void>;

before(async () => {
  ({ inlet, stop } = await startWithEvents('formats', ROWS.join('\n') + '\n'));
});
after(async () => stop?.());

const SELECT = 'SELECT timestamp, host, status, bytes, latency, cached AS "is cached" FROM website.events ORDER BY timestamp';
/** 64-bit integers, timestamps and decimals, which DuckDB hands over as strings, inside arrays. */
const TYPED_ARRAYS = 'SELECT groupArray(bytes) AS sizes, groupArray(timestamp) AS times, [1.5, 2.25] AS decimals, [[1, 2], [3]] AS nested FROM website.events WHERE status = 200';
/** The only value that changes between runs: the elapsed seconds of FORMAT JSON's statistics. */
const stableElapsed = (text: string) => text.replace(/"elapsed": [\d.e-]+/, '"elapsed": 0.001');
const fixturePath = (name: string) => new URL(`fixtures/query/${name}`, import.meta.url);
/** INLET_UPDATE_FIXTURES=1 rewrites the expected files from this run: review the diff before committing it. */
function expectFixture(actual: string, name: string): void {
  if (process.env.INLET_UPDATE_FIXTURES === '1') writeFileSync(fixturePath(name), actual);
  assert.equal(actual, readFileSync(fixturePath(name), 'utf8'));
}

describe('output formats, byte for byte', () => {
  const cases: [string, string, string][] = [
    ['TabSeparated (the default)', SELECT, 'rows.tsv'],
    ['TSV', `${SELECT} FORMAT TSV`, 'rows.tsv'],
    ['TabSeparatedWithNames', `${SELECT} FORMAT TabSeparatedWithNames`, 'rows-with-names.tsv'],
    ['CSV', `${SELECT} FORMAT CSV`, 'rows.csv'],
    ['CSVWithNames', `${SELECT} FORMAT CSVWithNames`, 'rows-with-names.csv'],
    ['JSON', `${SELECT} FORMAT JSON`, 'rows.json'],
    ['JSONEachRow', `${SELECT} FORMAT JSONEachRow`, 'rows.ndjson'],
    ['JSONCompact', `${SELECT} FORMAT JSONCompact`, 'rows-compact.json'],
    ['JSON with no rows', `${SELECT} LIMIT 0 FORMAT JSON`, 'empty.json'],
    ['JSONStrings', `${SELECT} FORMAT JSONStrings`, 'rows-strings.json'],
    ['JSONCompactStrings', `${SELECT} FORMAT JSONCompactStrings`, 'rows-compact-strings.json'],
    ['JSONStringsEachRow', `${SELECT} FORMAT JSONStringsEachRow`, 'rows-strings.ndjson'],
    ['JSONCompactEachRow', `${SELECT} FORMAT JSONCompactEachRow`, 'rows-compact.ndjson'],
    ['JSONCompactEachRowWithNamesAndTypes', `${SELECT} FORMAT JSONCompactEachRowWithNamesAndTypes`, 'rows-compact-with-names-and-types.ndjson'],
    ['JSONCompactStringsEachRowWithNames', `${SELECT} FORMAT JSONCompactStringsEachRowWithNames`, 'rows-compact-strings-with-names.ndjson'],
    ['JSONObjectEachRow', `${SELECT} FORMAT JSONObjectEachRow`, 'rows-object.json'],
    ['JSONObjectEachRow with no rows', `${SELECT} LIMIT 0 FORMAT JSONObjectEachRow`, 'empty-object.json'],
    [
      'arrays, JSONStringsEachRow',
      "SELECT groupArray(host) AS hosts, [1, NULL] AS numbers, ['a''b', 'c'] AS texts, NULL AS nothing FROM website.events WHERE status = 200 FORMAT JSONStringsEachRow",
      'aggregates-strings.ndjson',
    ],
    ['aggregates and arrays, JSON', 'SELECT count() AS n, quantiles(0.5, 0.9)(status) AS q, groupArray(host) AS hosts, avg(latency) AS avg FROM website.events WHERE status = 200 FORMAT JSON', 'aggregates.json'],
    ['arrays print their elements as their type does, TSV', `${TYPED_ARRAYS}`, 'typed-arrays.tsv'],
    ['arrays print their elements as their type does, JSONCompactEachRowWithNamesAndTypes', `${TYPED_ARRAYS} FORMAT JSONCompactEachRowWithNamesAndTypes`, 'typed-arrays.ndjson'],
    ['arrays print their elements as their type does, 64-bit integers bare', `${TYPED_ARRAYS} FORMAT JSONEachRow SETTINGS output_format_json_quote_64bit_integers = 0`, 'typed-arrays-bare.ndjson'],
    ['aggregates and arrays, TSV', 'SELECT count() AS n, quantiles(0.5, 0.9)(status) AS q, groupArray(host) AS hosts, avg(latency) AS avg FROM website.events WHERE status = 200', 'aggregates.tsv'],
  ];
  for (const [what, sql, file] of cases) {
    test(what, async () => {
      const result = await inlet.api.query(sql);
      assert.equal(result.status, 200, result.text);
      expectFixture(stableElapsed(result.text), file);
    });
  }

  test('content types', async () => {
    const types: Record<string, string> = {
      TabSeparated: 'text/tab-separated-values; charset=UTF-8',
      CSV: 'text/csv; charset=UTF-8; header=absent',
      JSON: 'application/json; charset=UTF-8',
      JSONEachRow: 'application/x-ndjson; charset=UTF-8',
      JSONCompactEachRow: 'application/x-ndjson; charset=UTF-8',
      JSONStrings: 'application/json; charset=UTF-8',
      JSONObjectEachRow: 'application/json; charset=UTF-8',
    };
    for (const [format, type] of Object.entries(types)) {
      const response = await fetch(`${inlet.api.url}/query`, { method: 'POST', headers: { authorization: `Bearer ${inlet.api.token}` }, body: `SELECT 1 FORMAT ${format}` });
      assert.equal(response.headers.get('content-type'), type);
      await response.text();
    }
  });

  test('an unknown format is a 400 that lists the known ones', async () => {
    const result = await inlet.api.query('SELECT 1 FORMAT Parquet');
    assert.equal(result.status, 400);
    assert.match(result.body.error, /Unknown output format Parquet: use one of TabSeparated, .*JSONObjectEachRow \(UNKNOWN_FORMAT\)/);
  });

  test('FORMAT inside a string literal is data, not a clause', async () => {
    const result = await inlet.api.query("SELECT 'FORMAT JSON' AS s");
    assert.equal(result.text, 'FORMAT JSON\n');
  });
});

describe('streaming', () => {
  test('a result larger than the buffer streams whole, chunked, in order', async () => {
    const response = await fetch(`${inlet.api.url}/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${inlet.api.token}` },
      body: "SELECT range AS n, repeat('x', 40) AS pad FROM range(200000) ORDER BY n FORMAT JSONEachRow",
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('transfer-encoding'), 'chunked');
    const lines = (await response.text()).trimEnd().split('\n');
    assert.equal(lines.length, 200000);
    assert.equal(lines[199999], `{"n":"199999","pad":"${'x'.repeat(40)}"}`);
  });

  test('a limit hit after streaming began ends the body with the error', async () => {
    const response = await fetch(`${inlet.api.url}/query?hdx_query_max_result_rows=150000`, {
      method: 'POST',
      headers: { authorization: `Bearer ${inlet.api.token}` },
      body: "SELECT range AS n, repeat('x', 40) AS pad FROM range(200000) FORMAT TSV",
    });
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(text, /\nCode: 396\. DB::Exception: Limit for result exceeded: the answer has more than hdx_query_max_result_rows=150000 rows.*\n$/);
  });

  test('a client that goes away mid-stream leaves the service answering, again and again', async () => {
    // Each leaves DuckDB fetching a chunk nobody will read (the connection is closed once it is back).
    for (let i = 0; i < 5; i++) {
      const abort = new AbortController();
      const response = await fetch(`${inlet.api.url}/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${inlet.api.token}` },
        body: "SELECT range AS n, repeat('x', 200) AS pad FROM range(3000000) FORMAT TSV",
        signal: abort.signal,
      });
      const reader = response.body!.getReader();
      let received = 0;
      while (received < 2 * 1024 * 1024) received += (await reader.read()).value?.length ?? 0;
      abort.abort();
      await reader.closed.catch(() => undefined);
    }
    const result = await inlet.api.query('SELECT count() FROM website.events');
    assert.equal(result.status, 200, result.text);
    assert.equal(result.text, '5\n');
  });
});
