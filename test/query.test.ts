import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { hashPassword } from '../src/auth/password.js';
import { createOrgWithUser } from '../src/catalog/accounts.js';
import { loadConfig } from '../src/config/config.js';
import { CSV_TRANSFORM, referenceJob } from './helpers/data.js';
import { ADMIN, ApiClient, createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

let s3: LocalS3;
let inlet: TestInlet;
let partitionFile: string;
/** The directory of the table's partitions, which its sandbox may read. */
let tableDirectory: string;
let projectId: string;

before(async () => {
  s3 = await startLocalS3();
  inlet = await startInlet({ s3Endpoint: s3.endpoint });
  ({ projectId } = await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]));
  // A second table of the same org, so a query naming it can try to reach website.events' files.
  const other = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/projects/${projectId}/tables/`, { name: 'other', settings: {} });
  assert.equal(other.status, 201, other.text);
  await s3.createBucket('query-data');
  const rows = [
    'timestamp,host,status,bytes,latency,cached',
    '2024-01-01 00:00:00,plain.example.com,200,10,0.5,true',
    '2024-01-01 00:00:01,"tab\there",404,20,1.25,false',
    '2024-01-01 00:00:02,"new\nline",500,,2,0',
    '2024-01-01 00:00:03,back\\slash,200,40,,1',
  ];
  await s3.put('query-data', 'q/rows.csv', rows.join('\n') + '\n');
  const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob('query data', 's3://query-data/q/'));
  const done = await inlet.api.waitForJob(created.body.uuid);
  assert.equal(done.status, 'done', JSON.stringify(done.details));
  const partition = await inlet.service.catalog.db.selectFrom('partitions').select('path').executeTakeFirstOrThrow();
  partitionFile = path.join(inlet.dataDir, 'partitions', partition.path);
  tableDirectory = path.join(inlet.dataDir, 'partitions', partition.path.split('/')[0]!);
});
after(async () => {
  await inlet?.stop();
  await s3?.stop();
});

describe('output', () => {
  test('TabSeparated by default, escaped as ClickHouse escapes it, \\N for NULL', async () => {
    const result = await inlet.api.query('SELECT timestamp, host, status, bytes, latency, cached FROM website.events ORDER BY timestamp');
    assert.equal(result.status, 200);
    assert.equal(
      result.text,
      [
        '2024-01-01 00:00:00\tplain.example.com\t200\t10\t0.5\t1',
        '2024-01-01 00:00:01\ttab\\there\t404\t20\t1.25\t0',
        '2024-01-01 00:00:02\tnew\\nline\t500\t\\N\t2\t0',
        '2024-01-01 00:00:03\tback\\\\slash\t200\t40\t\\N\t1',
        '',
      ].join('\n'),
    );
  });

  test('FORMAT JSON answers meta, data, rows and statistics', async () => {
    const result = await inlet.api.query('SELECT count() AS n, max(status) AS top, min(timestamp) AS first FROM website.events FORMAT JSON');
    assert.equal(result.status, 200);
    assert.deepEqual(result.body.meta, [
      { name: 'n', type: 'UInt64' },
      { name: 'top', type: 'Nullable(UInt32)' },
      { name: 'first', type: 'DateTime' },
    ]);
    assert.deepEqual(result.body.data, [{ n: '4', top: 500, first: '2024-01-01 00:00:00' }]);
    assert.equal(result.body.rows, 1);
    assert.equal(result.body.statistics.rows_read, 4);
    assert.equal(typeof result.body.statistics.elapsed, 'number');
  });

  test('GET /query?query= works like POST', async () => {
    const response = await inlet.api.request('GET', `/query?query=${encodeURIComponent('SELECT count() FROM website.events')}`);
    assert.equal(response.text, '4\n');
  });
});

describe('errors and isolation', () => {
  test('a syntax error is a 400 with the upstream {error, query} body', async () => {
    const result = await inlet.api.query('SELEC 1');
    assert.equal(result.status, 400);
    assert.match(result.body.error, /Syntax error/);
    assert.equal(result.body.query, 'SELEC 1');
  });

  test("another org's table is not found, exactly like a missing one", async () => {
    await createOrgWithUser(inlet.service.catalog.db, 'other', 'other@example.com', await hashPassword('pw'));
    const other = new ApiClient(inlet.api.url);
    await other.login({ username: 'other@example.com', password: 'pw' });
    const theirs = await other.query('SELECT count() FROM website.events');
    const missing = await inlet.api.query('SELECT count() FROM website.nothing');
    assert.equal(theirs.status, 400);
    assert.equal(theirs.body.error, "Code: 60. DB::Exception: Table website.events doesn't exist (UNKNOWN_TABLE)");
    assert.equal(missing.body.error, "Code: 60. DB::Exception: Table website.nothing doesn't exist (UNKNOWN_TABLE)");
  });

  test('two orgs with the same project.table each read only their own rows', async () => {
    await createOrgWithUser(inlet.service.catalog.db, 'twin', 'twin@example.com', await hashPassword('pw'));
    const twin = new ApiClient(inlet.api.url);
    await twin.login({ username: 'twin@example.com', password: 'pw' });
    await createWebsiteEvents(twin, [CSV_TRANSFORM]);
    await s3.put('query-data', 'twin/rows.csv', 'timestamp,host,status,bytes,latency,cached\n2030-01-01 00:00:00,twin.example.com,201,1,1,1\n');
    const created = await twin.request('POST', `/config/v1/orgs/${twin.orgId}/jobs/batch`, referenceJob('twin data', 's3://query-data/twin/'));
    assert.equal((await twin.waitForJob(created.body.uuid)).status, 'done');
    assert.equal((await twin.query('SELECT host, count() FROM website.events GROUP BY host')).text, 'twin.example.com\t1\n');
    assert.equal((await inlet.api.query('SELECT count() FROM website.events')).text, '4\n');
    const joined = await twin.query(`SELECT count() FROM website.events WHERE timestamp > '2029-01-01' UNION ALL SELECT count() FROM read_parquet('${partitionFile}')`);
    assert.equal(joined.status, 400, "a twin's query cannot name the other org's partition file");
  });

  test('a renamed or deleted table is found by its new name at once, and no longer by its old one', async () => {
    const tables = `/config/v1/orgs/${inlet.api.orgId}/projects/${projectId}/tables`;
    const created = await inlet.api.request('POST', `${tables}/`, { name: 'renamed_soon', settings: {} });
    assert.equal(created.status, 201, created.text);
    // Asked twice, so the lookup is kept for later queries.
    assert.equal((await inlet.api.query('SELECT count() FROM website.renamed_soon')).text, '0\n');
    assert.equal((await inlet.api.query('SELECT count() FROM website.renamed_soon')).text, '0\n');
    const renamed = await inlet.api.request('PATCH', `${tables}/${created.body.uuid}`, { name: 'renamed_now' });
    assert.equal(renamed.status, 200, renamed.text);
    const old = await inlet.api.query('SELECT count() FROM website.renamed_soon');
    assert.equal(old.body.error, "Code: 60. DB::Exception: Table website.renamed_soon doesn't exist (UNKNOWN_TABLE)");
    assert.equal((await inlet.api.query('SELECT count() FROM website.renamed_now')).text, '0\n');
    assert.equal((await inlet.api.request('DELETE', `${tables}/${created.body.uuid}`)).status, 204);
    const deleted = await inlet.api.query('SELECT count() FROM website.renamed_now');
    assert.equal(deleted.body.error, "Code: 60. DB::Exception: Table website.renamed_now doesn't exist (UNKNOWN_TABLE)");
  });

  test('basic auth works like a bearer token', async () => {
    const response = await fetch(`${inlet.api.url}/query`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}` },
      body: 'SELECT count() FROM website.events',
    });
    assert.equal(await response.text(), '4\n');
    const wrong = await fetch(`${inlet.api.url}/query`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from('admin@example.com:nope').toString('base64')}` }, body: 'SELECT 1' });
    assert.equal(wrong.status, 401);
  });
});

describe('sandbox', () => {
  const marker = path.join(tmpdir(), `inlet-escape-${process.pid}`);
  const escapes: [string, string][] = [
    ['read a local file', "SELECT * FROM read_csv('/etc/passwd')"],
    ['read a local file next to a real table', "SELECT count() FROM website.events UNION ALL SELECT count() FROM read_csv('/etc/passwd')"],
    ['read a file as text', "SELECT * FROM read_text('/etc/hostname')"],
    ['read a file as JSON', "SELECT * FROM read_json_auto('/etc/os-release')"],
    ['read a partition file directly', `SELECT count() FROM read_parquet('${'PARTITION'}')`],
    ['read the partition of a table it does not name', `SELECT count() FROM website.other UNION ALL SELECT count() FROM read_parquet('${'PARTITION'}')`],
    ['climb out of a table it names', `SELECT count() FROM website.events UNION ALL SELECT count() FROM read_text('${'PARTITION'}/../../../../catalog.sqlite')`],
    ['read parquet metadata', `SELECT * FROM parquet_metadata('${'PARTITION'}')`],
    ['glob the file system', "SELECT * FROM glob('/etc/*')"],
    ['glob the partitions next to a real table', `SELECT count() FROM website.events UNION ALL SELECT count() FROM glob('${'DATA'}/**')`],
    ['run SQL through query()', "SELECT * FROM query('SELECT * FROM read_csv(''/etc/passwd'')')"],
    ['read the partitions of a table by file, undone or not yet committed ones too', `SELECT count() FROM read_parquet('${'TABLE_DIR'}/**/*.parquet') UNION ALL SELECT 0 FROM website.events`],
    ['read the files a query was given', "SELECT getvariable('inlet_files_0') FROM website.events"],
    ['list the settings', 'SELECT * FROM duckdb_settings()'],
    // DuckDB does not interrupt these: a timeout or a cancel would not stop them.
    ['compute bins without end', 'SELECT len(equi_width_bins(0, 10, 20000, false))'],
    ['compare long strings without end', "SELECT levenshtein(repeat('a', 200000), repeat('b', 200000)) FROM website.events"],
    ['copy to a file', `COPY (SELECT 1) TO '${marker}'`],
    ['copy a table to a file', `COPY website.events TO '${marker}'`],
    ['export the database', `EXPORT DATABASE '${marker}'`],
    ['explain a copy', `EXPLAIN COPY (SELECT 1) TO '${marker}'`],
    ['attach a database', `ATTACH '${marker}' AS x`],
    ['attach in memory', "ATTACH ':memory:' AS x"],
    ['install an extension', 'INSTALL httpfs'],
    ['load an extension', 'LOAD httpfs'],
    ['change a setting', 'SET enable_external_access = true'],
    ['unlock the configuration', 'SET lock_configuration = false'],
    ['raise the thread count', 'SET threads = 64'],
    ['reset a setting', 'RESET memory_limit'],
    ['run a pragma', 'PRAGMA enable_profiling'],
    ['call a table function as a statement', 'CALL pragma_version()'],
    ['create a table', 'CREATE TABLE t AS SELECT 1'],
    ['create a macro', 'CREATE MACRO m() AS 1'],
    ['create a secret', "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')"],
    ['insert', 'INSERT INTO website.events SELECT * FROM website.events'],
    ['delete', 'DELETE FROM website.events'],
    ['drop the view', 'DROP VIEW website.events'],
    ['checkpoint', 'CHECKPOINT'],
    ['run two statements', 'SELECT 1; SELECT 2'],
    ['hide a statement after SETTINGS', `SELECT 1 SETTINGS hdx_query_comment = 'x'; COPY (SELECT 1) TO '${marker}'`],
    ['write through a subquery', `SELECT * FROM (SELECT 1) WHERE 1 = (SELECT count() FROM read_text('${marker}'))`],
  ];
  for (const [what, sql] of escapes) {
    test(`cannot ${what}`, async () => {
      const result = await inlet.api.query(sql.replace('PARTITION', partitionFile).replace('DATA', inlet.dataDir).replace('TABLE_DIR', tableDirectory));
      assert.equal(result.status, 400, result.text);
      assert.equal(typeof result.body.error, 'string');
      if (process.env.INLET_TEST_SHOW_ERRORS) console.log(what, '→', result.body.error);
      assert.equal(existsSync(marker), false);
    });
  }
  test('each query runs with the configured threads and memory, and cannot change them', async () => {
    const result = await inlet.api.query(
      "SELECT current_setting('threads') AS threads, current_setting('memory_limit') AS memory, current_setting('enable_external_access') AS external, current_setting('lock_configuration') AS locked FORMAT JSONEachRow",
    );
    // The configured limit, as DuckDB prints it.
    const reference = await DuckDBInstance.create(':memory:', { memory_limit: loadConfig(process.env, { workers: '2' }).duckdbMemoryLimit });
    const memory = (await (await reference.connect()).runAndReadAll("SELECT current_setting('memory_limit')")).getRowsJS()[0]![0];
    reference.closeSync();
    assert.equal(result.text, `{"threads":"1","memory":"${memory}","external":false,"locked":true}\n`);
  });

  test('no query left files behind in the data directory', () => {
    const left = readdirSync(path.join(inlet.dataDir, 'scratch', 'query'));
    assert.ok(left.length <= 4, `only the open sandboxes' directories (at most 4): ${left.join(', ')}`);
    for (const dir of left)
      assert.deepEqual(
        readdirSync(path.join(inlet.dataDir, 'scratch', 'query', dir)).filter((f) => f !== 'spill'),
        ['empty'],
      );
  });

  test('the table itself still reads after all that', async () => {
    assert.equal((await inlet.api.query('SELECT count() FROM website.events')).text, '4\n');
  });
});

describe('sandbox reuse', () => {
  const hour = "SELECT count() FROM website.events WHERE timestamp >= '2024-01-01 00:00:00' AND timestamp < '2024-01-01 01:00:00'";

  test('a repeated query sees the partitions committed since its last run', async () => {
    assert.equal((await inlet.api.query(hour)).text, '4\n');
    assert.equal((await inlet.api.query(hour)).text, '4\n');
    await s3.put('query-data', 'more/rows.csv', 'timestamp,host,status,bytes,latency,cached\n2024-01-01 00:30:00,late.example.com,200,1,1,1\n');
    const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob('more data', 's3://query-data/more/'));
    assert.equal((await inlet.api.waitForJob(created.body.uuid)).status, 'done');
    assert.equal((await inlet.api.query(hour)).text, '5\n');
    const json = await inlet.api.query(`${hour} FORMAT JSON`);
    assert.equal(json.body.statistics.partitions_read, 2);
  });

  test('a repeated statement, kept prepared, sees the clock move', async () => {
    const clock = 'SELECT epoch_ms(now()) AS ms, count() AS n FROM website.events WHERE timestamp >= now() - INTERVAL 100000 DAY FORMAT JSONEachRow';
    const first = JSON.parse((await inlet.api.query(clock)).text);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const second = JSON.parse((await inlet.api.query(clock)).text);
    assert.ok(Number(second.ms) > Number(first.ms), `${second.ms} after ${first.ms}`);
    assert.equal(second.n, first.n);
  });

  test('a query interrupted by its timeout leaves the sandbox working', async () => {
    const slow = await inlet.api.query('SELECT count() FROM range(100000000000) SETTINGS hdx_query_max_execution_time = 0.2');
    assert.equal(slow.status, 400);
    assert.match(slow.body.error, /TIMEOUT_EXCEEDED/);
    assert.equal((await inlet.api.query(hour)).text, '5\n');
  });

  test("partitions of two schemas read together, each column by name; one schema's read as it is", async () => {
    const wide = structuredClone(CSV_TRANSFORM) as { name: string; settings: { is_default?: boolean; output_columns: object[] } };
    wide.name = 'wide';
    wide.settings.is_default = false;
    wide.settings.output_columns.push({ name: 'region', datatype: { type: 'string', source: { from_input_index: 6 } } });
    const tables = await inlet.api.request('GET', `/config/v1/orgs/${inlet.api.orgId}/projects/${projectId}/tables/`);
    const events = tables.body.find((t: { name: string }) => t.name === 'events').uuid;
    const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/projects/${projectId}/tables/${events}/transforms/`, wide);
    assert.equal(created.status, 201, created.text);
    await s3.put('query-data', 'wide/rows.csv', 'timestamp,host,status,bytes,latency,cached,region\n2024-01-02 00:00:00,wide.example.com,200,1,1,1,eu\n');
    const job = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob('wide data', 's3://query-data/wide/', { transform: 'wide' }));
    assert.equal((await inlet.api.waitForJob(job.body.uuid)).status, 'done');
    const all = await inlet.api.query("SELECT count() AS n, count(region) AS regions, min(host) AS first FROM website.events SETTINGS hdx_query_comment = 'both' FORMAT JSONEachRow");
    assert.equal(all.status, 200, all.text);
    assert.deepEqual(JSON.parse(all.text), { n: '6', regions: '1', first: 'back\\slash' });
    const day = await inlet.api.query("SELECT region FROM website.events WHERE timestamp >= '2024-01-02' FORMAT JSONEachRow");
    assert.equal(day.text, '{"region":"eu"}\n');
  });

  test('queries over many table sets keep at most 4 sandboxes open', async () => {
    const third = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/projects/${projectId}/tables/`, { name: 'third', settings: {} });
    assert.equal(third.status, 201, third.text);
    const sets = ['SELECT 1', 'SELECT count() FROM website.other', 'SELECT count() FROM website.events', 'SELECT count() FROM website.events, website.other', 'SELECT count() FROM website.third'];
    for (const sql of [...sets, ...sets]) assert.equal((await inlet.api.query(sql)).status, 200, sql);
    assert.ok(readdirSync(path.join(inlet.dataDir, 'scratch', 'query')).length <= 4);
  });
});
