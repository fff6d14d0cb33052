import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDuckDB } from '../src/duckdb/instances.js';
import { queryRows } from '../src/duckdb/engine.js';
import { csvOf, CSV_TRANSFORM, logRows } from './helpers/data.js';
import { startInlet, type TestInlet } from './helpers/inlet.js';

/**
 * An attacker owns a table and its transforms; the service's other tables, its data directory
 * and the machine's files are what a sql_transform must never reach, at save time, in
 * /validator or in a job.
 */
const root = mkdtempSync(path.join(tmpdir(), 'inlet-sandbox-root-'));
const SECRET_HOST = 'secret-host-of-another-table';
const HEADERS = { 'x-hdx-table': 'website.loot', 'x-hdx-test': 'true' };
let inlet: TestInlet;
let tablesUrl: string;
const tableIds: Record<string, string> = {};

const jobFor = (name: string, table: string, transform: string, dir: string) => ({
  name,
  type: 'batch_import',
  settings: { source: { table: `website.${table}`, type: 'batch', subtype: 'aws s3', transform, settings: { url: `file://${dir}/` } } },
});

async function runJob(name: string, table: string, transform: string, dir: string) {
  const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, jobFor(name, table, transform, dir));
  assert.equal(created.status, 200, created.text);
  return inlet.api.waitForJob(created.body.uuid, undefined, 120_000);
}

const withSql = (sql: string) => ({ ...CSV_TRANSFORM.settings, is_default: false, sql_transform: sql });
const saveTransform = (table: string, name: string, sql: string) => inlet.api.request('POST', `${tablesUrl}${tableIds[table]}/transforms/`, { name, type: 'csv', settings: withSql(sql) });

before(async () => {
  // The others' transforms take milliseconds: a few seconds lets the costly one below fail soon.
  inlet = await startInlet({ fileRoots: root, sqlTransformTimeoutSeconds: '3' });
  const project = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/projects/`, { name: 'website' });
  tablesUrl = `/config/v1/orgs/${inlet.api.orgId}/projects/${project.body.uuid}/tables/`;
  for (const name of ['events', 'loot']) {
    const table = await inlet.api.request('POST', tablesUrl, { name, settings: {} });
    assert.equal(table.status, 201, table.text);
    tableIds[name] = table.body.uuid;
    const transform = await inlet.api.request('POST', `${tablesUrl}${table.body.uuid}/transforms/`, CSV_TRANSFORM);
    assert.equal(transform.status, 201, transform.text);
  }
  // Another table's rows, in the data directory's partitions: what the attacker is after.
  const secrets = path.join(root, 'secrets');
  mkdirSync(secrets);
  writeFileSync(path.join(secrets, 'rows.csv'), csvOf(logRows(3).map((r) => ({ ...r, host: SECRET_HOST }))));
  const loaded = await runJob('secrets', 'events', CSV_TRANSFORM.name, secrets);
  assert.equal(loaded.status, 'done', JSON.stringify(loaded.details));
  const attack = path.join(root, 'attack');
  mkdirSync(attack);
  writeFileSync(path.join(attack, 'rows.csv'), csvOf(logRows(2, Date.UTC(2024, 5, 1))));
});
after(async () => {
  await inlet?.stop();
  rmSync(root, { recursive: true, force: true });
});

/**
 * The reported escape: close the wrapper Inlet put around the text, set a variable that is
 * harmless where external access is off (the save-time check) and a file read where it is on,
 * and replace the output with what that read returns.
 */
function wrapperEscape(readSql: string): string {
  const q = (s: string) => `'${s.replaceAll("'", "''")}'`;
  return (
    `SELECT * FROM {STREAM}) LIMIT 0; ` +
    `SET VARIABLE inlet_q = CASE WHEN current_setting('enable_external_access') THEN ${q(readSql)} ELSE 'SELECT ''nothing'' AS loot' END; ` +
    `CREATE OR REPLACE TEMP TABLE inlet_transformed AS SELECT * REPLACE ((SELECT loot FROM query(getvariable('inlet_q'))) AS host) FROM (SELECT * FROM {STREAM}); ` +
    `SELECT * FROM (SELECT * FROM {STREAM}`
  );
}

describe('sql_transform runs as one checked SELECT over {STREAM}', () => {
  test('every escape attempt is refused when the transform is saved, with a 400 naming the problem', async () => {
    const partitions = path.join(inlet.dataDir, 'partitions', '**', '*.parquet');
    const cases: [string, RegExp][] = [
      [wrapperEscape("SELECT content AS loot FROM read_text('/etc/passwd')"), /cannot be parsed/],
      ['SELECT * FROM {STREAM}; SELECT * FROM {STREAM}', /holds 2 statements, not one/],
      ["SELECT * FROM {STREAM}; SELECT * FROM read_text('/etc/passwd')", /holds 2 statements/],
      ["SELECT * FROM query('SELECT * FROM read_text(''/etc/passwd'')') -- {STREAM}", /calls the table function query\(\.\.\.\)/],
      ["SELECT * FROM query_table('{STREAM}')", /calls the table function query_table\(\.\.\.\)/],
      ["SELECT * REPLACE ((SELECT content FROM read_text('/etc/passwd')) AS host) FROM {STREAM}", /calls the table function read_text\(\.\.\.\)/],
      ["SELECT * FROM {STREAM} WHERE host NOT IN (SELECT column0 FROM read_csv('/etc/passwd'))", /calls the table function read_csv\(\.\.\.\)/],
      [`SELECT * REPLACE ((SELECT string_agg(host, ',') FROM read_parquet('${partitions}')) AS host) FROM {STREAM}`, /calls the table function read_parquet\(\.\.\.\)/],
      ["SELECT * REPLACE ((SELECT first(file) FROM glob('/etc/*')) AS host) FROM {STREAM}", /calls the table function glob\(\.\.\.\)/],
      ["SELECT * FROM {STREAM}, read_text('/etc/passwd')", /joins relations/],
      ["SELECT * REPLACE (getvariable('inlet_q') AS host) FROM {STREAM}", /calls getvariable\(\), which is not on the list/],
      ["SELECT * REPLACE (current_setting('enable_external_access')::VARCHAR AS host) FROM {STREAM}", /calls current_setting\(\), which is not on the list/],
      ["SELECT * REPLACE (CASE WHEN current_setting('enable_external_access') THEN 'x' END AS host) FROM {STREAM}", /calls current_setting\(\)/],
      ["ATTACH '/tmp/inlet-attack.db' AS loot; SELECT * FROM {STREAM}", /is not a SELECT/],
      ["COPY (SELECT * FROM {STREAM}) TO '/tmp/inlet-attack.csv'", /is not a SELECT/],
      ['SET enable_external_access = true; SELECT * FROM {STREAM}', /is not a SELECT/],
      ['PRAGMA database_list; SELECT * FROM {STREAM}', /is not a SELECT/],
      ['WITH other AS (SELECT * FROM inlet_converted) SELECT * FROM {STREAM} WHERE host IN (SELECT host FROM other)', /reads "inlet_converted"/],
      ['WITH "/etc/passwd" AS (SELECT * FROM "/etc/passwd") SELECT * FROM {STREAM}', /reads "\/etc\/passwd"/],
      ["SELECT * FROM {STREAM} WHERE host IN (SELECT * FROM '/etc/passwd')", /reads "\/etc\/passwd"/],
      ['SELECT * FROM {STREAM} WHERE EXISTS (SELECT 1 FROM duckdb_tables())', /calls the table function duckdb_tables/],
      ['SELECT * FROM main.{STREAM}', /reads "main.__inlet_stream"/],
      ["SELECT * FROM (SELECT * FROM {STREAM} WHERE host IN (SELECT * FROM read_text('/etc/passwd')))", /calls the table function read_text/],
      ['SELECT * FROM {STREAM} UNION ALL SELECT * FROM {STREAM}', /combines SELECTs/],
      ['WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT * FROM {STREAM}', /recursive CTE/],
      ["SELECT * REPLACE (json_serialize_sql('SELECT 1') AS host) FROM {STREAM}", /calls json_serialize_sql\(\)/],
      ["SELECT * FROM json_execute_serialized_sql('x') -- {STREAM}", /calls the table function json_execute_serialized_sql/],
      ["SELECT * REPLACE (repeat('x', 1000000000) AS host) FROM {STREAM}", /calls repeat\(\)/],
      ["SELECT * REPLACE (printf('%0999999999d', 1) AS host) FROM {STREAM}", /calls printf\(\)/],
      ["SELECT * REPLACE (format('{:>999999999}', 'a') AS host) FROM {STREAM}", /calls format\(\)/],
      // DuckDB does not interrupt these: a cancel would leave the worker slot busy for good.
      ['SELECT * REPLACE (host || len(equi_width_bins(0, 10, CAST(status AS BIGINT) * 0 + 20000, false))::VARCHAR AS host) FROM {STREAM}', /calls equi_width_bins\(\)/],
      ['SELECT * REPLACE (levenshtein(host, host)::VARCHAR AS host) FROM {STREAM}', /calls levenshtein\(\)/],
      ["SELECT * REPLACE (system.main.current_setting('threads') AS host) FROM {STREAM}", /call functions by their plain name/],
      ["SELECT * REPLACE (main.current_setting('threads') AS host) FROM {STREAM}", /calls current_setting\(\), which is not on the list/],
      ["SELECT * REPLACE (pg_catalog.concat(host, 'x') AS host) FROM {STREAM}", /calls "pg_catalog.concat": call functions by their plain name/],
      ["SELECT * REPLACE (temp.main.concat(host, 'x') AS host) FROM {STREAM}", /call functions by their plain name/],
    ];
    for (const [i, [sql, expected]] of cases.entries()) {
      const response = await saveTransform('loot', `attack-${i}`, sql);
      assert.equal(response.status, 400, `${sql}\n→ ${response.status} ${response.text}`);
      assert.match(response.body.detail, /^settings\.sql_transform /, sql);
      assert.match(response.body.detail, expected, sql);
      const validated = await inlet.api.request('POST', '/validator', { transform: { type: 'csv', settings: withSql(sql) }, data: ['2024-01-01 00:00:00,a,200,1,0.1,false'] }, HEADERS);
      assert.equal(validated.status, 400, `${sql}\n→ ${validated.text}`);
      assert.doesNotMatch(validated.text, /root:|secret-host/);
    }
  });

  test('a malicious transform stored before the check fails its job and the validator, and reads nothing', async () => {
    const partitions = path.join(inlet.dataDir, 'partitions', '**', '*.parquet');
    const planted = [
      wrapperEscape("SELECT content AS loot FROM read_text('/etc/passwd')"),
      wrapperEscape(`SELECT string_agg(host, ',') AS loot FROM read_parquet('${partitions}')`),
      `SELECT * REPLACE ((SELECT string_agg(host, ',') FROM read_parquet('${partitions}')) AS host) FROM {STREAM}`,
      "SELECT * REPLACE ((SELECT content FROM read_text('/etc/passwd')) AS host) FROM {STREAM}",
    ];
    const saved = await saveTransform('loot', 'planted', 'SELECT * FROM {STREAM}');
    assert.equal(saved.status, 201, saved.text);
    for (const [i, sql] of planted.entries()) {
      // Straight into the catalog, as a transform saved before the check existed would be.
      await inlet.service.catalog.db
        .updateTable('transforms')
        .set({ settings: JSON.stringify(withSql(sql)) })
        .where('id', '=', saved.body.uuid)
        .execute();
      const data = ['timestamp,host,status,bytes,latency,cached', '2024-06-01 00:00:00,a,200,1,0.1,false'];
      for (const transform of [{ type: 'csv', settings: withSql(sql) }, 'planted']) {
        const validated = await inlet.api.request('POST', '/validator', { transform, data }, HEADERS);
        assert.doesNotMatch(validated.text, /root:|secret-host/, sql);
        assert.equal(validated.status, 400, `${sql}\n→ ${validated.text}`);
        assert.match(validated.body.detail, /^settings\.sql_transform /);
      }

      const job = await runJob(`planted ${i}`, 'loot', 'planted', path.join(root, 'attack'));
      assert.equal(job.status, 'failed', `${sql}\n→ ${JSON.stringify(job)}`);
      assert.match(JSON.stringify(job.details), /settings\.sql_transform /);
      assert.doesNotMatch(JSON.stringify(job), /root:|secret-host/);
    }
    const loot = await inlet.api.query('SELECT count() FROM website.loot');
    assert.equal(loot.text, '0\n', 'nothing was written to the attacker table');
  });

  test('ordinary transforms keep working: star modifiers, filters, CTEs and subqueries over {STREAM}, lambdas, JSON and dates', async () => {
    const cases: [string, string[]][] = [
      ['SELECT * REPLACE (upper(host) AS host) FROM {STREAM}', ['A', 'B']],
      ['SELECT * FROM {STREAM} WHERE status <> 404', ['a']],
      ["WITH s AS (SELECT * FROM {STREAM}) SELECT * REPLACE (concat(host, '-', status) AS host) FROM s", ['a-200', 'b-404']],
      ['SELECT * REPLACE (host || (SELECT count(*) FROM {STREAM})::VARCHAR AS host) FROM (SELECT * FROM {STREAM}) t', ['a2', 'b2']],
      ["SELECT * REPLACE (list_transform(string_split(host, ''), x -> upper(x))[1] AS host) FROM {STREAM}", ['A', 'B']],
      ["SELECT * REPLACE (if(status = 200, 'ok', coalesce(NULL, 'bad')) AS host) FROM {STREAM}", ['ok', 'bad']],
      ["SELECT * REPLACE (strftime(timestamp, '%Y') || regexp_replace(host, '[ab]', 'x') AS host) FROM {STREAM}", ['2024x', '2024x']],
      ["SELECT * REPLACE (json_object('h', host)->>'$.h' AS host) FROM {STREAM}", ['a', 'b']],
      ['SELECT timestamp, host, __inlet_file, __inlet_row FROM {STREAM}', ['a', 'b']],
      ["SELECT * REPLACE (['x', host][2] || {'s': status}.s::VARCHAR || MAP {'k': 'm'}['k'] || row(1, 2)[1]::VARCHAR AS host) FROM {STREAM}", ['a200m1', 'b404m1']],
      ["SELECT * REPLACE (main.concat(host, '!') AS host) FROM {STREAM}", ['a!', 'b!']],
    ];
    const data = ['timestamp,host,status,bytes,latency,cached', '2024-06-01 00:00:00,a,200,1,0.1,false', '2024-06-01 00:00:01,b,404,2,0.2,true'];
    for (const [i, [sql, hosts]] of cases.entries()) {
      const saved = await saveTransform('loot', `legit-${i}`, sql);
      assert.equal(saved.status, 201, `${sql}\n→ ${saved.text}`);
      const validated = await inlet.api.request('POST', '/validator', { transform: `legit-${i}`, data }, HEADERS);
      assert.equal(validated.status, 200, `${sql}\n→ ${validated.text}`);
      assert.deepEqual(
        validated.body.results.filter((r: any) => r.output).map((r: any) => r.output.host),
        hosts,
        sql,
      );
    }
    const job = await runJob('legit', 'loot', 'legit-0', path.join(root, 'attack'));
    assert.equal(job.status, 'done', JSON.stringify(job.details));
    assert.equal((await inlet.api.query('SELECT count() FROM website.loot WHERE host = upper(host)')).text, '2\n');
  });

  test('a transform whose work grows with the cube of the rows fails its job after INLET_SQL_TRANSFORM_TIMEOUT_SECONDS, and the slot is free again', async () => {
    // Over 3,000 rows, a subquery correlated twice makes billions of comparisons: hours of a slot.
    const costly = path.join(root, 'costly');
    mkdirSync(costly);
    writeFileSync(path.join(costly, 'rows.csv'), csvOf(logRows(3_000, Date.UTC(2024, 7, 1))));
    const sql = 'SELECT * FROM {STREAM} t WHERE (SELECT count(*) FROM {STREAM} s WHERE (SELECT count(*) FROM {STREAM} u WHERE u.bytes < s.bytes + t.bytes) > 0) >= 0';
    const saved = await saveTransform('loot', 'costly', sql);
    assert.equal(saved.status, 201, saved.text);
    const job = await runJob('costly', 'loot', 'costly', costly);
    assert.equal(job.status, 'failed', JSON.stringify(job.details));
    assert.match(JSON.stringify(job.details), /settings\.sql_transform ran for more than 3 s \(INLET_SQL_TRANSFORM_TIMEOUT_SECONDS\) on one chunk of rows: make it cheaper/);
    const after = await runJob('after costly', 'loot', CSV_TRANSFORM.name, costly);
    assert.equal(after.status, 'done', JSON.stringify(after.details));
    assert.equal(after.details.rows.written, 3_000);
  });
});

describe('transform settings that become SQL literals stay literals', () => {
  const ts = CSV_TRANSFORM.settings.output_columns[0]!;
  const data = ['2024-06-01 00:00:00,-,x'];
  const columns = (name: string, extra: Record<string, unknown> = {}) => [ts, { name, datatype: { type: 'string', source: { from_input_index: 1 }, ...extra } }];

  test('quotes in null_values, defaults, column names and delimiters are data, not SQL', async () => {
    const evil = "x') OR true; SELECT * FROM read_text('/etc/passwd') --";
    const cases: [Record<string, unknown>, Record<string, unknown>][] = [
      [{ null_values: [evil, '-'], output_columns: columns('h') }, { h: null }],
      [{ null_values: ['-'], output_columns: columns('h', { default: evil }) }, { h: evil }],
      [{ null_values: ['-'], output_columns: columns('h"); SELECT 1; --', { default: "it's" }) }, { 'h"); SELECT 1; --': "it's" }],
      [{ format_details: { delimiter: "'", quote: '"' }, output_columns: columns('h') }, { h: '-,x' }],
    ];
    for (const [settings, output] of cases) {
      const body = { transform: { type: 'csv', settings: { format_details: { delimiter: ',' }, ...settings } }, data: settings.format_details ? ["2024-06-01 00:00:00'-,x"] : data };
      const response = await inlet.api.request('POST', '/validator', body, HEADERS);
      assert.equal(response.status, 200, `${JSON.stringify(settings)}\n→ ${response.text}`);
      const { timestamp: _, ...rest } = response.body.results[0].output;
      assert.deepEqual(rest, output, JSON.stringify(settings));
    }
  });

  test('a NUL byte in any setting, or a limit beyond any date, is a 400 naming the field when saved', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ null_values: ['a\u0000b'], output_columns: columns('h') }, /^settings\.null_values\[0\] is "a\\u0000b": it holds a NUL byte/],
      [{ format_details: { delimiter: '\u0000' }, output_columns: columns('h') }, /^settings\.format_details\.delimiter is .*NUL byte/],
      [{ output_columns: columns('h', { default: '\u0000' }) }, /^settings\.output_columns\[1\]\.datatype\.default is .*NUL byte/],
      [{ output_columns: columns('h\u0000') }, /^settings\.output_columns\[1\]\.name is .*NUL byte/],
      [{ output_columns: [ts], sql_transform: "SELECT * FROM {STREAM} WHERE host <> '\u0000'" }, /^settings\.sql_transform is .*NUL byte/],
      [
        { output_columns: [{ ...ts, datatype: { ...ts.datatype, limits: { past: '99999999999999999999w' } } }] },
        /^settings\.output_columns\[0\] \("timestamp"\)\.datatype\.limits\.past is "99999999999999999999w": use at most 36500d/,
      ],
    ];
    for (const [i, [settings, expected]] of cases.entries()) {
      const saved = await inlet.api.request('POST', `${tablesUrl}${tableIds.loot}/transforms/`, { name: `literal-${i}`, type: 'csv', settings });
      assert.equal(saved.status, 400, `${JSON.stringify(settings)}\n→ ${saved.text}`);
      assert.match(saved.body.detail, expected);
      const validated = await inlet.api.request('POST', '/validator', { transform: { type: 'csv', settings }, data }, HEADERS);
      assert.equal(validated.status, 400, validated.text);
    }
  });
});

test('the worker engine reads no file outside its directories, whatever SQL reaches it', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'inlet-engine-'));
  const allowed = path.join(dir, 'allowed');
  mkdirSync(allowed);
  writeFileSync(path.join(allowed, 'ok.csv'), 'a\n1\n');
  writeFileSync(path.join(dir, 'outside.csv'), 'a\n2\n');
  const engine = await openDuckDB({ kind: 'worker-slot', threads: 1, memoryLimit: '64MB', tempDirectory: path.join(allowed, 'spill'), allowedDirectories: [allowed] });
  const connection = await engine.connect();
  try {
    assert.deepEqual(await queryRows(connection, `SELECT a FROM read_csv('${allowed}/ok.csv')`), [{ a: 1n }]);
    for (const sql of [
      "SELECT * FROM read_text('/etc/passwd')",
      `SELECT * FROM read_csv('${dir}/outside.csv')`,
      `SELECT * FROM read_csv('${allowed}/../outside.csv')`,
      "SELECT * FROM query('SELECT * FROM read_text(''/etc/passwd'')')",
      `COPY (SELECT 1) TO '${dir}/written.csv'`,
      `ATTACH '${dir}/x.db' AS x`,
    ]) {
      await assert.rejects(connection.run(sql), /Permission Error|disabled by configuration/, sql);
    }
    await assert.rejects(connection.run('SET enable_external_access = true'), /Cannot enable external access/);
  } finally {
    connection.closeSync();
    engine.closeSync();
    rmSync(dir, { recursive: true, force: true });
  }
});
