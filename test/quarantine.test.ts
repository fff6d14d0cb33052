import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createOrgWithUser } from '../src/catalog/accounts.js';
import { createJob } from '../src/catalog/jobs.js';
import { committedAttempts } from '../src/catalog/partitions.js';
import { openDuckDB } from '../src/duckdb/instances.js';
import { queryRows, withConnection } from '../src/duckdb/engine.js';
import { convertFiles } from '../src/ingest/convert.js';
import { writeQuarantine } from '../src/ingest/quarantine.js';
import { readGroups } from '../src/ingest/read-groups.js';
import { checkSqlTransform } from '../src/transform/sql-check.js';
import { validateTransform } from '../src/transform/validate.js';
import { freshCatalog } from './helpers/catalogs.js';
import { csvOf, CSV_TRANSFORM, goTime, JSON_TRANSFORM, logRows, referenceJob } from './helpers/data.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

/** The CSV transform, reading timestamps written as 2024-01-01T00:00:00: the fix of a transform bug. */
const FIXED_TRANSFORM = {
  ...CSV_TRANSFORM,
  name: 'fixed',
  settings: {
    ...CSV_TRANSFORM.settings,
    is_default: false,
    output_columns: CSV_TRANSFORM.settings.output_columns.map((c) => (c.name === 'timestamp' ? { ...c, datatype: { ...c.datatype, format: '2006-01-02T15:04:05' } } : c)),
  },
};

const BAD_ROWS = 100_000;
const GOOD_ROWS = 1_000;

/** Rows of the test data with an ISO "T" in the timestamp: the default transform rejects each. */
const isoLines = (count: number, start: number) => logRows(count, start).map((r) => `${goTime(r.time).replace(' ', 'T')},${r.host},${r.status},${r.bytes},${r.latency},${r.cached}`);

let s3: LocalS3;
let inlet: TestInlet;
let dropCatalog: () => Promise<void> = async () => undefined;
const jobs = () => `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`;

before(async () => {
  s3 = await startLocalS3();
  await s3.createBucket('quarantine');
  await s3.createBucket('parts');
  // PostgreSQL catalog and partitions in object storage: quarantine files are uploaded, cached for queries and downloaded for replays.
  const catalog = await freshCatalog('postgres');
  await catalog.catalog.close();
  dropCatalog = catalog.drop;
  inlet = await startInlet({ s3Endpoint: s3.endpoint, databaseUrl: catalog.url, storageUrl: 's3://parts/inlet/' });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM, FIXED_TRANSFORM]);
});
after(async () => {
  await inlet?.stop();
  await s3?.stop();
  await dropCatalog();
});

async function run(name: string, url: string, extra: { transform?: string; settings?: Record<string, unknown> } = {}, status = 'done') {
  const created = await inlet.api.request('POST', jobs(), referenceJob(name, url, extra));
  assert.equal(created.status, 200, created.text);
  const done = await inlet.api.waitForJob(created.body.uuid, undefined, 240_000);
  assert.equal(done.status, status, JSON.stringify(done.details));
  const { read, written, rejected } = done.details.rows;
  assert.equal(read, written + rejected, `rows.read = written + rejected for ${name}`);
  return done;
}

async function scalar(sql: string): Promise<string> {
  const answer = await inlet.api.query(sql);
  assert.equal(answer.status, 200, answer.text);
  return answer.text.trim();
}

describe('reject quarantine', () => {
  let first = '';

  test('every one of 100,000 rejected rows is kept and queryable, and a replay with a corrected transform loads them', async () => {
    const lines = isoLines(BAD_ROWS, Date.UTC(2024, 0, 1));
    // Good rows every 100 lines: each rejected row's line is checked against where it was written.
    const good = csvOf(logRows(GOOD_ROWS, Date.UTC(2023, 0, 1)), false)
      .trimEnd()
      .split('\n');
    const body = ['timestamp,host,status,bytes,latency,cached'];
    lines.forEach((line, i) => {
      if (i % 100 === 0) body.push(good[i / 100]!);
      body.push(line);
    });
    await s3.put('quarantine', 'big/rows.csv', body.join('\n') + '\n');
    const done = await run('iso timestamps', 's3://quarantine/big/');
    first = done.uuid;
    assert.deepEqual(done.details.rows, { read: BAD_ROWS + GOOD_ROWS, written: GOOD_ROWS, rejected: BAD_ROWS });
    assert.deepEqual(done.details.quarantine, { rows: BAD_ROWS, max_rows: 1_000_000, all_kept: true, source: `rejects://${first}` });
    // The Hydrolix shape stays: five samples per file, with the count kept beside them.
    const [file] = done.details.files;
    assert.equal(file.rejects.length, 5);
    assert.equal(file.rows_quarantined, BAD_ROWS);

    assert.equal(await scalar(`SELECT count() FROM "website"."events#rejects" WHERE job_id = '${first}'`), String(BAD_ROWS));
    assert.equal(await scalar('SELECT count(DISTINCT line), min(line), max(line) FROM website.`events#rejects`'), `${BAD_ROWS}\t3\t${BAD_ROWS + GOOD_ROWS + 1}`);
    // Line 3 is the first ISO row (line 1 the header, line 2 a good row); its raw record is the line as written.
    const firstReject = JSON.parse(await scalar(`SELECT file, line, "column", reason, raw, format FROM "website"."events#rejects" ORDER BY line LIMIT 1 FORMAT JSONEachRow`));
    assert.deepEqual(firstReject, {
      file: 's3://quarantine/big/rows.csv',
      line: '3',
      column: 'timestamp',
      reason: `column "timestamp": cannot convert '${lines[0]!.split(',')[0]}' to datetime (format 2006-01-02 15:04:05)`,
      raw: lines[0],
      format: 'csv',
    });
    // Every raw record is the line at its place in the file.
    const written = body.map((line, i) => `${i + 1}\t${line}`);
    const sample = (await scalar(`SELECT line, raw FROM "website"."events#rejects" WHERE line % 997 = 0 ORDER BY line`)).split('\n');
    assert.ok(sample.length > 90);
    for (const row of sample) assert.equal(row, written[Number(row.split('\t')[0]) - 1]);

    const replay = await run('replay', `rejects://${first}`, { transform: 'fixed' });
    assert.deepEqual(replay.details.rows, { read: BAD_ROWS, written: BAD_ROWS, rejected: 0 });
    assert.equal(await scalar('SELECT count() FROM website.events'), String(BAD_ROWS + GOOD_ROWS));
    assert.equal(await scalar(`SELECT count() FROM website.events WHERE timestamp >= '2024-01-01'`), String(BAD_ROWS));
  });

  test('a file whose every row is rejected leaves only its quarantine, which undo takes back', async () => {
    await s3.put('quarantine', 'all-bad/rows.csv', ['timestamp,host,status,bytes,latency,cached', ...isoLines(300, Date.UTC(2022, 0, 1))].join('\n') + '\n');
    // It fails (it did none of its work), and what it rejected is kept all the same.
    const done = await run('all rejected', 's3://quarantine/all-bad/', {}, 'failed');
    assert.deepEqual(done.details.rows, { read: 300, written: 0, rejected: 300 });
    assert.equal(done.details.partitions.count, 0);
    assert.equal(await scalar(`SELECT count(), min(line), max(line) FROM "website"."events#rejects" WHERE job_id = '${done.uuid}'`), '300\t2\t301');
    // Its attempt committed no partition: its quarantine file alone keeps the sweeper off it.
    const [kept] = await inlet.service.catalog.db.selectFrom('quarantine').select(['path', 'storage_id']).where('job_id', '=', done.uuid).execute();
    assert.ok(kept, 'the job has a quarantine file');
    assert.equal(kept.storage_id !== null, true, 'in the object storage');
    assert.ok((await committedAttempts(inlet.service.catalog)).has(kept.path.split('/').slice(0, 2).join('/')));

    const undone = await inlet.api.request('POST', `${jobs()}/${done.uuid}/undo`);
    assert.equal(undone.status, 200, undone.text);
    assert.equal(await scalar(`SELECT count() FROM "website"."events#rejects" WHERE job_id = '${done.uuid}'`), '0');
    assert.equal(await scalar(`SELECT count() FROM "website"."events#rejects"`), String(BAD_ROWS), "the other job's quarantine stays");
    // Nothing to replay once undone.
    const replay = await run('replay of an undone job', `rejects://${done.uuid}`, { transform: 'fixed' });
    assert.deepEqual(replay.details.rows, { read: 0, written: 0, rejected: 0 });
  });

  test('max_quarantined_rows bounds what is kept: the rest is counted, and status says so', async () => {
    await s3.put('quarantine', 'bounded/rows.csv', ['timestamp,host,status,bytes,latency,cached', ...isoLines(50, Date.UTC(2021, 0, 1))].join('\n') + '\n');
    const done = await run('bounded', 's3://quarantine/bounded/', { settings: { max_quarantined_rows: 10 } }, 'failed');
    assert.deepEqual(done.details.rows, { read: 50, written: 0, rejected: 50 });
    assert.deepEqual(done.details.quarantine, { rows: 10, max_rows: 10, all_kept: false, source: `rejects://${done.uuid}` });
    const files = await inlet.api.request('GET', `${jobs()}/${done.uuid}/files`);
    assert.equal(files.body[0].rows_quarantined, 10);
    assert.equal(files.body[0].rows_rejected, 50);
    // The first ten by line.
    assert.equal(await scalar(`SELECT count(), min(line), max(line) FROM "website"."events#rejects" WHERE job_id = '${done.uuid}'`), '10\t2\t11');
  });

  test('a replay reads only a job of its own org: any other is not found', async () => {
    const { org } = await createOrgWithUser(inlet.service.catalog.db, 'other org', 'someone@other.example', 'a long enough password');
    const { job } = await createJob(inlet.service.catalog, {
      org_id: org.id,
      name: 'theirs',
      description: null,
      type: 'batch_import',
      settings: '{}',
      table_id: 't',
      transform_id: 'x',
      transform_doc: '{}',
      concurrency: 1,
    });
    for (const id of [job.id, randomUUID()]) {
      const refused = await inlet.api.request('POST', jobs(), referenceJob('theirs', `rejects://${id}`, { transform: 'fixed' }));
      assert.equal(refused.status, 404, refused.text);
      assert.match(refused.body.detail, new RegExp(`batch job ${id} not found in this org`));
    }
    const malformed = await inlet.api.request('POST', jobs(), referenceJob('bad url', 'rejects://not-a-uuid'));
    assert.equal(malformed.status, 400, malformed.text);
    assert.match(malformed.body.detail, /rejects:\/\/\{job uuid\}/);
  });

  test('a replay keeps the line breaks inside quoted fields', async () => {
    const hosts = ['two\nlines', 'carriage\r\nreturn', 'a "quoted"\nword', 'plain'];
    const lines = isoLines(hosts.length, Date.UTC(2020, 5, 1)).map((line, i) => line.replace(/^([^,]+),[^,]+,/, `$1,"${hosts[i]!.replaceAll('"', '""')}",`));
    await s3.put('quarantine', 'breaks/rows.csv', ['timestamp,host,status,bytes,latency,cached', ...lines].join('\n') + '\n');
    const done = await run('line breaks', 's3://quarantine/breaks/', {}, 'failed');
    assert.deepEqual(done.details.rows, { read: hosts.length, written: 0, rejected: hosts.length });
    const replay = await run('replay of line breaks', `rejects://${done.uuid}`, { transform: 'fixed' });
    assert.deepEqual(replay.details.rows, { read: hosts.length, written: hosts.length, rejected: 0 });
    const loaded = await scalar(`SELECT host FROM website.events WHERE timestamp >= '2020-06-01' AND timestamp < '2020-06-02' ORDER BY timestamp FORMAT JSONEachRow`);
    assert.deepEqual(
      loaded.split('\n').map((row) => JSON.parse(row).host),
      hosts,
    );
  });
});

describe('collecting every reject of a chunk', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'inlet-rejects-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function collect(settings: { type: string; settings: object }, name: string, text: string, keepRejects = 100, maxLineBytes = 100) {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    const transform = await checkSqlTransform(validateTransform(settings.type, settings.settings).transform);
    const engine = await openDuckDB({ kind: 'worker-slot', threads: 1, memoryLimit: '256MB', tempDirectory: path.join(dir, 'spill'), allowedDirectories: [dir] });
    try {
      return await withConnection(engine, undefined, async (c) => {
        const groups = await readGroups(transform, [file], { maxLineBytes, copyOf: () => path.join(dir, `${name}.lines`) });
        const chunk = await convertFiles({ connection: c, transform, groups, fileCount: 1, keepRejects });
        const rows = chunk.rejects
          ? await queryRows<{ f: number; line: bigint; column: string | null; reason: string; raw: string | null; format: string }>(
              c,
              `SELECT f, line, "column", reason, raw, format FROM ${chunk.rejects.table} ORDER BY line`,
            )
          : undefined;
        const kept = chunk.rejects?.kept;
        // A second read of the files leaves its table of fields until the chunk is dropped.
        const [again] = await queryRows<{ n: bigint }>(c, `SELECT count(*) AS n FROM duckdb_tables() WHERE table_name LIKE 'inlet_raw_%'`);
        await chunk.drop();
        return { account: chunk.accounts[0]!, rows: rows?.map((r) => ({ ...r, line: Number(r.line) })), kept, readAgain: again!.n > 0n };
      });
    } finally {
      engine.closeSync();
    }
  }

  test('CSV: failed conversions, records the reader refused and long lines, each with its line and raw record', async () => {
    const good = '2024-01-01 00:00:00,h,200,1,1.5,true';
    const quoted = '2024-01-01 00:00:02,"h,q",abc,1,1.5,true';
    const { account, rows, kept } = await collect(
      CSV_TRANSFORM,
      'kinds.csv',
      ['timestamp,host,status,bytes,latency,cached', good, 'garbage,h,x,1,1,1', '2024-01-01 00:00:01,h,200', 'x'.repeat(200), quoted, good].join('\n') + '\n',
    );
    assert.deepEqual([account.rowsRead, account.rowsWritten, account.rowsRejected], [6, 2, 4]);
    assert.deepEqual(kept, [4]);
    assert.deepEqual(rows, [
      { f: 0, line: 3, column: 'timestamp', reason: account.rejects[0]!.reason, raw: 'garbage,h,x,1,1,1', format: 'csv' },
      { f: 0, line: 4, column: 'bytes', reason: account.rejects[1]!.reason, raw: '2024-01-01 00:00:01,h,200', format: 'csv' },
      { f: 0, line: 5, column: null, reason: account.rejects[2]!.reason, raw: null, format: 'csv' },
      { f: 0, line: 6, column: 'status', reason: `column "status": cannot convert 'abc' to uint32`, raw: quoted, format: 'csv' },
    ]);
    // The samples and the quarantine agree on every line.
    assert.deepEqual(
      account.rejects.map((r) => r.line),
      [3, 4, 5, 6],
    );
  });

  test('a column named as a field of the reader (c0, c1, ...) keeps its values, and a failed record its raw text', async () => {
    const settings = {
      type: 'csv',
      settings: {
        format_details: { delimiter: ',' },
        output_columns: [
          { name: 't', datatype: { type: 'datetime', primary: true, format: '2006-01-02 15:04:05', source: { from_input_index: 0 } } },
          { name: 'c0', datatype: { type: 'int32', source: { from_input_index: 2 } } },
          { name: 'c2', datatype: { type: 'string', source: { from_input_index: 1 } } },
        ],
      },
    };
    const { account, rows } = await collect(settings, 'named-as-fields.csv', '2024-01-01 00:00:00,x,5\nbad,y,6\n2024-01-01 00:00:01,z,seven\n');
    assert.deepEqual([account.rowsRead, account.rowsWritten, account.rowsRejected], [3, 1, 2]);
    assert.deepEqual(
      rows!.map((r) => [r.line, r.column, r.raw]),
      [
        [2, 't', 'bad,y,6'],
        [3, 'c0', '2024-01-01 00:00:01,z,seven'],
      ],
    );
  });

  test('records the reader refused are kept whole past the 10,000 characters DuckDB keeps of them, quoted lines and all', async () => {
    const good = '2024-01-01 00:00:00,h,200,1,1.5,true';
    const wide = `2024-01-01 00:00:01,h,200,1,1.5,true,${'y'.repeat(30_000)}`;
    const multiline = `2024-01-01 00:00:02,"${'q\n'.repeat(6_000)}",200,1,1.5,true,extra`;
    const { rows } = await collect(CSV_TRANSFORM, 'cut.csv', ['timestamp,host,status,bytes,latency,cached', good, wide, multiline, good].join('\r\n') + '\r\n', 100, 1 << 20);
    assert.deepEqual(
      rows!.map((r) => [r.line, r.raw?.length, r.reason.slice(0, 16)]),
      [
        [3, wide.length, 'TOO MANY COLUMNS'],
        [4, multiline.length, 'TOO MANY COLUMNS'],
      ],
    );
    assert.equal(rows![0]!.raw, wide);
    assert.equal(rows![1]!.raw, multiline);
    // Bundled NDJSON lines are cut too; their prefix is not part of the record.
    const bad = `{"ts": 1704067200000, "host": "${'\u0001'.repeat(2)}${'z'.repeat(20_000)}"}`;
    const held = await collect(JSON_TRANSFORM, 'cut.ndjson', `{"ts": 1704067200000, "host": "a"}\n${bad}\n`, 100, 1 << 20);
    assert.deepEqual(
      held.rows!.map((r) => [r.line, r.raw]),
      [[2, bad]],
    );
  });

  test('NDJSON: lines that are not objects and records that do not convert keep their text', async () => {
    const { rows } = await collect(JSON_TRANSFORM, 'kinds.ndjson', ['{"ts": 1704067200000, "host": "a"}', 'not json', '', '[1]', '{"ts": "soon"}'].join('\n') + '\n');
    assert.deepEqual(
      rows!.map((r) => [r.line, r.raw, r.format]),
      [
        [2, 'not json', 'ndjson'],
        [4, '[1]', 'ndjson'],
        [5, '{"ts": "soon"}', 'ndjson'],
      ],
    );
  });

  test('rows a sql_transform drops are kept with their reason; the bound keeps the first by line; no rejects, nothing collected', async () => {
    const sql = { ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, sql_transform: 'SELECT * FROM {STREAM} WHERE status <> 404' } };
    const lines = csvOf(logRows(9)).trimEnd().split('\n');
    const { account, rows } = await collect(sql, 'dropped.csv', lines.join('\n') + '\n');
    assert.equal(account.rowsRejected, 3);
    assert.deepEqual(
      rows!.map((r) => [r.line, r.column, r.reason, r.raw]),
      [3, 6, 9].map((line) => [line, null, 'dropped by sql_transform (filtered out, or a NULL primary timestamp)', lines[line - 1]]),
    );
    const bounded = await collect(sql, 'bounded.csv', lines.join('\n') + '\n', 2);
    assert.deepEqual(
      bounded.rows!.map((r) => r.line),
      [3, 6],
    );
    assert.deepEqual(bounded.kept, [2]);
    const clean = await collect(CSV_TRANSFORM, 'clean.csv', csvOf(logRows(5)));
    assert.equal(clean.rows, undefined);
  });

  test('rows a sql_transform gives a value their column cannot hold are rejected with it, the rest load', async () => {
    const sql =
      'SELECT * REPLACE (CASE WHEN status = 404 THEN timestamp + INTERVAL 300 YEAR ELSE timestamp END AS timestamp, CASE WHEN status = 500 THEN -1 ELSE status END AS status, CASE WHEN status = 200 THEN 1.5 ELSE bytes END AS bytes) FROM {STREAM} WHERE status <> 200 OR bytes <> 1000';
    const lines = csvOf(logRows(9)).trimEnd().split('\n');
    const { account, rows } = await collect({ ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, sql_transform: sql } }, 'unfit.csv', lines.join('\n') + '\n');
    // Every row breaks a column or is filtered: 404s move out of datetime's range, 500s are -1 for a uint32, 200s a fraction for an int64.
    assert.deepEqual([account.rowsRead, account.rowsWritten, account.rowsRejected], [9, 0, 9]);
    assert.deepEqual(account.rejects, [
      {
        line: 0,
        column: 'timestamp',
        reason: `8 rows rejected: the sql_transform gave a value its column cannot hold (the first: column "timestamp": the sql_transform made '2324-01-01 00:00:01', which datetime cannot hold)`,
      },
      { line: 0, column: null, reason: '1 rows dropped by sql_transform (filtered out, or a NULL primary timestamp)' },
    ]);
    const reasonOf = (line: number) =>
      line === 2
        ? 'dropped by sql_transform (filtered out, or a NULL primary timestamp)'
        : line % 3 === 0
          ? `column "timestamp": the sql_transform made '${Number(lines[line - 1]!.slice(0, 4)) + 300}${lines[line - 1]!.slice(4, 19)}', which datetime cannot hold`
          : line % 3 === 1
            ? `column "status": the sql_transform made '-1', which uint32 cannot hold`
            : `column "bytes": the sql_transform made '1.5', which int64 cannot hold`;
    assert.deepEqual(
      rows!.map((r) => [r.line, r.column, r.reason, r.raw]),
      [2, 3, 4, 5, 6, 7, 8, 9, 10].map((line) => [line, line === 2 ? null : /^column "(\w+)"/.exec(reasonOf(line))![1], reasonOf(line), lines[line - 1]]),
    );
  });

  test('a wide CSV keeps a failed record’s text, and one past what the memory limit reads at once loads with its text NULL', async () => {
    const wide = (fields: number) => {
      const row = (second: number, status: string) => [`2024-01-01 00:00:0${second}`, 'h', status, '1', '1.5', 'true', ...Array.from({ length: fields - 6 }, (_, i) => `f${i}`)].join(',');
      return { text: `head\n${row(1, '200')}\n${row(2, 'x')}\n${row(3, '200')}\n`, bad: row(2, 'x') };
    };
    // 256 MB and one thread (collect's engine) read records of 1,000 fields at once.
    const narrow = wide(900);
    const kept = await collect(CSV_TRANSFORM, 'wide-900.csv', narrow.text, 100, 1_000_000);
    assert.deepEqual(
      kept.rows!.map((r) => [r.line, r.column, r.raw]),
      [[3, 'status', narrow.bad]],
    );
    const widest = wide(5000);
    const nulled = await collect(CSV_TRANSFORM, 'wide-max.csv', widest.text, 100, 1_000_000);
    assert.deepEqual([nulled.account.rowsWritten, nulled.account.rowsRejected], [2, 1]);
    assert.deepEqual(
      nulled.rows!.map((r) => [r.line, r.column, r.raw]),
      [[3, 'status', null]],
    );
  });

  test("failed conversions keep their raw text from the conversion's own scan: the file is not read again", async () => {
    const lines = ['timestamp,host,status,bytes,latency,cached', '2024-01-01 00:00:00,h,200,1,1.5,true', 'garbage,h,x,1,1,1', '2024-01-01 00:00:02,"h,q",abc,1,1.5,true'];
    const csv = await collect(CSV_TRANSFORM, 'scanned.csv', lines.join('\n') + '\n');
    assert.equal(csv.readAgain, false);
    assert.deepEqual(
      csv.rows!.map((r) => [r.line, r.column, r.raw]),
      [
        [3, 'timestamp', 'garbage,h,x,1,1,1'],
        [4, 'status', '2024-01-01 00:00:02,"h,q",abc,1,1.5,true'],
      ],
    );
    const json = await collect(JSON_TRANSFORM, 'scanned.ndjson', ['{"ts": 1704067200000, "host": "a"}', 'not json', '{"ts": "soon"}'].join('\n') + '\n');
    assert.equal(json.readAgain, false);
    assert.deepEqual(
      json.rows!.map((r) => [r.line, r.raw]),
      [
        [2, 'not json'],
        [3, '{"ts": "soon"}'],
      ],
    );
  });

  test('a CSV too wide to carry its fields through the scan reads its failed records again, with the same raw text', async () => {
    const extra = 300;
    const wide = {
      ...CSV_TRANSFORM,
      settings: {
        ...CSV_TRANSFORM.settings,
        output_columns: [CSV_TRANSFORM.settings.output_columns[0]!, ...Array.from({ length: extra }, (_, i) => ({ name: `n${i}`, datatype: { type: 'int64', source: { from_input_index: i + 1 } } }))],
      },
    };
    const record = (ts: string, value: string) => [ts, ...Array.from({ length: extra }, (_, i) => (i === extra - 1 ? value : String(i)))].join(',');
    const bad = record('2024-01-01 00:00:01', 'x');
    const text = [record('timestamp', 'h'), record('2024-01-01 00:00:00', '1'), bad, record('2024-01-01 00:00:02', '2')].join('\n') + '\n';
    const { account, rows, readAgain } = await collect(wide, 'wide.csv', text, 100, 10_000);
    assert.deepEqual([account.rowsWritten, account.rowsRejected], [2, 1]);
    assert.equal(readAgain, true);
    assert.deepEqual(
      rows!.map((r) => [r.line, r.column, r.raw]),
      [[3, `n${extra - 1}`, bad]],
    );
  });

  test('one file with failed conversions and rows a sql_transform dropped keeps each once, with its raw text', async () => {
    const sql = { ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, sql_transform: 'SELECT * FROM {STREAM} WHERE status <> 404' } };
    const lines = csvOf(logRows(6)).trimEnd().split('\n');
    lines.splice(2, 0, 'garbage,h,x,1,1,1');
    const { account, rows, readAgain } = await collect(sql, 'mixed.csv', lines.join('\n') + '\n');
    assert.equal(readAgain, true);
    assert.equal(rows!.length, account.rowsRejected);
    assert.deepEqual(
      rows!.map((r) => [r.line, r.raw]),
      [3, ...lines.flatMap((l, i) => (i > 0 && l.split(',')[2] === '404' ? [i + 1] : []))].sort((a, b) => a - b).map((line) => [line, lines[line - 1]]),
    );
  });
});

test('a quarantine file lists its records by file and line, as the kept table was made, with two threads and many rejects of every kind', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'inlet-quarantine-order-'));
  const engine = await openDuckDB({ kind: 'worker-slot', threads: 2, memoryLimit: '512MB', tempDirectory: path.join(dir, 'spill'), allowedDirectories: [dir] });
  try {
    const lines = csvOf(logRows(60_000)).trimEnd().split('\n');
    // Failed conversions, short records the reader refuses and long lines, spread through two files.
    const spoiled = lines.map((line, i) => (i === 0 ? line : i % 7 === 0 ? line.replace(/^[^,]*/, 'garbage') : i % 11 === 0 ? line.split(',').slice(0, 3).join(',') : i % 997 === 0 ? 'x'.repeat(300) : line));
    const files = ['a.csv', 'b.csv'].map((name) => path.join(dir, name));
    for (const file of files) writeFileSync(file, spoiled.join('\n') + '\n');
    const transform = await checkSqlTransform(validateTransform(CSV_TRANSFORM.type, CSV_TRANSFORM.settings).transform);
    await withConnection(engine, undefined, async (c) => {
      const groups = await readGroups(transform, files, { maxLineBytes: 200, copyOf: (j) => `${files[j]}.lines` });
      const chunk = await convertFiles({ connection: c, transform, groups, fileCount: files.length, keepRejects: 1_000_000 });
      try {
        const target = path.join(dir, 'rejects.parquet');
        const written = await writeQuarantine(chunk, { jobId: 'order', urls: ['s3://b/a.csv', 's3://b/b.csv'], file: target });
        const rejected = chunk.accounts.reduce((sum, a) => sum + a.rowsRejected, 0);
        assert.ok(rejected > 10_000, `${rejected} rejects`);
        assert.equal(written?.rows, rejected);
        const rows = await queryRows<{ file: string; line: bigint }>(c, `SELECT file, line FROM read_parquet('${target}')`);
        assert.equal(rows.length, rejected);
        const keys = rows.map((r) => `${r.file}:${String(r.line).padStart(8, '0')}`);
        assert.deepEqual(keys, [...keys].sort());
      } finally {
        await chunk.drop();
      }
    });
  } finally {
    engine.closeSync();
    rmSync(dir, { recursive: true, force: true });
  }
});
