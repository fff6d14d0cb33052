import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { queryRows, withConnection } from '../src/duckdb/engine.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';
import { csvOf, CSV_TRANSFORM, logRows, referenceJob } from './helpers/data.js';

const FIXTURES = path.join(import.meta.dirname, 'fixtures', 'transform');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name));
/** Every compressed variant make.py writes, by file name ending. */
const VARIANTS = ['', '.gz', '.zip', '.zz', '.bz2', '.zst', '.xz'];

let s3: LocalS3;
let inlet: TestInlet;
let tablesUrl: string;
const jobs = () => `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`;

const col = (name: string, datatype: Record<string, unknown>) => ({ name, datatype });

const CDN_TRANSFORM = {
  name: 'cdn',
  type: 'csv',
  settings: {
    is_default: true,
    format_details: { delimiter: ' ', quote: '"' },
    null_values: ['-'],
    output_columns: [
      col('time', { type: 'datetime', primary: true, format: '02/Jan/2006:15:04:05 -0700', source: { from_input_index: 2 } }),
      col('ip', { type: 'string', source: { from_input_index: 0 } }),
      col('user', { type: 'string', source: { from_input_index: 1 } }),
      col('request', { type: 'string', source: { from_input_index: 3 } }),
      col('status', { type: 'uint32', source: { from_input_index: 4 } }),
      col('bytes', { type: 'uint64', default: '0', source: { from_input_index: 5 } }),
      col('referer', { type: 'string', source: { from_input_index: 6 } }),
      col('agent', { type: 'string', source: { from_input_index: 7 } }),
      col('request_time', { type: 'double', source: { from_input_index: 8 } }),
    ],
  },
};

const TRAIL_TRANSFORM = {
  name: 'trail',
  type: 'json',
  settings: {
    is_default: true,
    format_details: { flattening: { active: true, map_flattening_strategy: { left: '.', right: '' }, slice_flattening_strategy: { left: '[', right: ']' } } },
    output_columns: [
      col('eventTime', { type: 'datetime', primary: true, format: '2006-01-02T15:04:05Z07:00' }),
      col('eventName', { type: 'string' }),
      col('userIdentity.sessionContext.sessionIssuer.userName', { type: 'string' }),
      col('resources[0].ARN', { type: 'string' }),
      col('readOnly', { type: 'boolean' }),
      col('rest', { type: 'map', catch_all: true, elements: [{ type: 'string' }, { type: 'string' }] }),
    ],
  },
};

const TSV_TRANSFORM = {
  name: 'tsv',
  type: 'csv',
  settings: {
    is_default: true,
    format_details: { delimiter: '\\t', skip_head: 1, skip_comments: true, comment: '#', windows_ending: true },
    output_columns: [
      { name: 'timestamp', position: 0, datatype: { type: 'datetime', primary: true, format: '2006-01-02 15:04:05' } },
      { name: 'service', position: 1, datatype: { type: 'string' } },
      { name: 'level', position: 2, datatype: { type: 'string' } },
      { name: 'latency_ms', position: 3, datatype: { type: 'double' } },
      { name: 'message', position: 4, datatype: { type: 'string' } },
    ],
  },
};

async function createTable(name: string, transform: object): Promise<void> {
  const table = await inlet.api.request('POST', tablesUrl, { name });
  assert.equal(table.status, 201, table.text);
  const created = await inlet.api.request('POST', `${tablesUrl}${table.body.uuid}/transforms/`, transform);
  assert.equal(created.status, 201, created.text);
}

function job(name: string, table: string, url: string, settings: Record<string, unknown> = {}) {
  return { name, type: 'batch_import', settings: { ...settings, source: { table, type: 'batch', subtype: 'aws s3', settings: { url } } } };
}

async function runJob(body: object) {
  const created = await inlet.api.request('POST', jobs(), body);
  assert.equal(created.status, 200, created.text);
  return inlet.api.waitForJob(created.body.uuid);
}

async function query(sql: string): Promise<string> {
  const result = await inlet.api.query(sql);
  assert.equal(result.status, 200, result.text);
  return result.text;
}

before(async () => {
  s3 = await startLocalS3();
  // Few partitions a task, so a job over the test files can go past the bound.
  inlet = await startInlet({ s3Endpoint: s3.endpoint, maxPartitionsPerTask: '200' });
  const { projectId } = await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
  tablesUrl = `/config/v1/orgs/${inlet.api.orgId}/projects/${projectId}/tables/`;
  await createTable('cdn', CDN_TRANSFORM);
  await createTable('trail', TRAIL_TRANSFORM);
  await createTable('tsv', TSV_TRANSFORM);
  await s3.createBucket('logs');
  for (const variant of VARIANTS) {
    await s3.put('logs', `cdn/access.log${variant}`, fixture(`cdn-access.log${variant}`));
    await s3.put('logs', `trail/events.ndjson${variant}`, fixture(`cloudtrail.ndjson${variant}`));
    await s3.put('logs', `tsv/services.tsv${variant}`, fixture(`services.tsv${variant}`));
  }
  await s3.put('logs', 'trail-array/events.json', fixture('cloudtrail-array.json'));
});

after(async () => {
  await inlet?.stop();
  await s3?.stop();
});

describe('messy real-world files, each compressed every supported way', () => {
  test('an nginx/CDN access log: quoted fields, "-" for null, the 02/Jan/2006:15:04:05 -0700 layout', async () => {
    const done = await runJob(job('cdn all', 'website.cdn', 's3://logs/cdn/'));
    assert.equal(done.status, 'done', JSON.stringify(done.details));
    assert.deepEqual(done.details.rows, { read: 242 * 7, written: 240 * 7, rejected: 2 * 7 });
    for (const file of done.details.files) {
      assert.deepEqual([file.rows_read, file.rows_written, file.rows_rejected], [242, 240, 2], file.url);
      assert.deepEqual(
        file.rejects.map((r: { line: number; column: string }) => [r.line, r.column]),
        [
          [51, 'status'],
          [101, 'bytes'],
        ],
        file.url,
      );
    }
    const summary = await query(`SELECT count(), countIf(user IS NULL), countIf(bytes = 0), min(time), max(time) FROM website.cdn`);
    assert.equal(summary, `${240 * 7}\t${180 * 7}\t${24 * 7}\t2024-10-10 20:00:00\t2024-10-10 21:59:47\n`);
    assert.equal(await query(`SELECT referer FROM website.cdn WHERE referer IS NOT NULL LIMIT 1`), 'https://example.com/p?q=\\\\x22x\\\\x22\n');
  });

  test('CloudTrail-style nested JSON, flattened, with the rest kept by catch_all; NDJSON and one JSON array', async () => {
    const done = await runJob(job('trail all', 'website.trail', 's3://logs/trail/'));
    assert.equal(done.status, 'done', JSON.stringify(done.details));
    assert.deepEqual(done.details.rows, { read: 60 * 7, written: 60 * 7, rejected: 0 });
    const arrayDone = await runJob(job('trail array', 'website.trail', 's3://logs/trail-array/'));
    assert.deepEqual(arrayDone.details.rows, { read: 60, written: 60, rejected: 0 });
    const row = await query(
      `SELECT "userIdentity.sessionContext.sessionIssuer.userName", "resources[0].ARN", readOnly, rest['eventSource'], rest['sourceIPAddress'] FROM website.trail WHERE eventTime = '2024-03-02 01:01:00' LIMIT 1`,
    );
    assert.equal(row, 'role-1\tarn:aws:s3:::bucket-1/key\t1\tec2.amazonaws.com\t198.51.100.1\n');
  });

  test('NDJSON put together from two systems, its lines ending in "\\n" and "\\r\\n", loads every record, plain and gzip', async () => {
    // The reader fails a whole file whose line endings differ from its first line's.
    const lines = readFileSync(path.join(FIXTURES, 'cloudtrail.ndjson'), 'utf8').trimEnd().split('\n');
    const mixed = Buffer.from(lines.map((line, i) => line + (i % 2 === 0 ? '\n' : '\r\n')).join(''));
    await s3.put('logs', 'trail-mixed/events.ndjson', mixed);
    await s3.put('logs', 'trail-mixed/events.ndjson.gz', gzipSync(mixed));
    const done = await runJob(job('trail mixed', 'website.trail', 's3://logs/trail-mixed/'));
    assert.equal(done.status, 'done', JSON.stringify(done.details));
    assert.deepEqual(done.details.rows, { read: 2 * lines.length, written: 2 * lines.length, rejected: 0 });
  });

  test('a TSV with a header, comment lines and CRLF', async () => {
    const done = await runJob(job('tsv all', 'website.tsv', 's3://logs/tsv/'));
    assert.equal(done.status, 'done', JSON.stringify(done.details));
    assert.deepEqual(done.details.rows, { read: 90 * 7, written: 90 * 7, rejected: 0 });
    assert.equal(await query(`SELECT message FROM website.tsv WHERE latency_ms = 3 LIMIT 1`), 'message "2" with, commas\n');
  });

  test('an nginx log with backslash-escaped quotes and backslashes in quoted fields loads every record, plain and gzip', async () => {
    const escaped = { ...CDN_TRANSFORM, name: 'cdn-escaped', settings: { ...CDN_TRANSFORM.settings, is_default: false, format_details: { delimiter: ' ', quote: '"', escape: '\\' } } };
    await inlet.api.request('POST', `${tablesUrl}${await tableId('cdn')}/transforms/`, escaped);
    // The first record ends a field with an escaped backslash: the field count is taken from it.
    const log =
      [
        '198.51.100.7 - "11/Oct/2024:10:00:00 -0700" "GET /a HTTP/1.1" 200 10 "https://e.example/\\"q\\"" "ua \\\\" 0.1',
        '198.51.100.8 - "11/Oct/2024:10:00:01 -0700" "GET /b HTTP/1.1" 200 11 "-" "curl/8" 0.2',
        '198.51.100.9 - "11/Oct/2024:10:00:02 -0700" "GET /c HTTP/1.1" 200 12 "https://e.example/\\"q\\"" "Mozilla/5.0 \\"x\\"" 0.3',
      ].join('\n') + '\n';
    await s3.put('logs', 'escaped/access.log', log);
    await s3.put('logs', 'escaped/access.log.gz', gzipSync(log));
    const done = await runJob({ ...job('escaped', 'website.cdn', 's3://logs/escaped/'), settings: { source: { table: 'website.cdn', transform: 'cdn-escaped', settings: { url: 's3://logs/escaped/' } } } });
    assert.equal(done.status, 'done', JSON.stringify(done.details));
    assert.deepEqual(done.details.rows, { read: 6, written: 6, rejected: 0 }, JSON.stringify(done.details.files));
    const rows = await query(`SELECT referer, agent FROM website.cdn WHERE ip LIKE '198.51.100.%' ORDER BY time, referer LIMIT 3`);
    assert.equal(rows, 'https://e.example/"q"\tua \\\\\nhttps://e.example/"q"\tua \\\\\n\\N\tcurl/8\n');
  });

  test('a transform that declares the compression reads files without telling names; a wrong declaration fails with the magic bytes', async () => {
    const declared: [string, string][] = [
      ['gzip', '.gz'],
      ['zip', '.zip'],
      ['deflate', '.zz'],
      ['zlib', '.zz'],
      ['bzip2', '.bz2'],
      ['zstd', '.zst'],
      ['xz', '.xz'],
    ];
    for (const [compression, variant] of declared) {
      await inlet.api.request('POST', `${tablesUrl}${await tableId('tsv')}/transforms/`, { ...TSV_TRANSFORM, name: `tsv-${compression}`, settings: { ...TSV_TRANSFORM.settings, is_default: false, compression } });
      await s3.put('logs', `declared/${compression}/data`, fixture(`services.tsv${variant}`));
      const done = await runJob({
        ...job(`declared ${compression}`, 'website.tsv', `s3://logs/declared/${compression}/`),
        settings: { dry_run: true, source: { table: 'website.tsv', transform: `tsv-${compression}`, settings: { url: `s3://logs/declared/${compression}/` } } },
      });
      assert.equal(done.status, 'done', `${compression}: ${JSON.stringify(done.details)}`);
      assert.equal(done.details.rows.written, 90, compression);
    }
    await s3.put('logs', 'liar/data', fixture('services.tsv.gz'));
    const liar = await runJob({ ...job('liar zstd', 'website.tsv', 's3://logs/liar/'), settings: { source: { table: 'website.tsv', transform: 'tsv-zstd', settings: { url: 's3://logs/liar/' } } } });
    assert.equal(liar.status, 'failed');
    assert.match(liar.details.errors[0], /is not zstd data \(it starts with bytes 1f8b.*zstd starts with 28b52ffd\); it looks like gzip/);
    await s3.put('logs', 'plain-as-none/data', fixture('services.tsv.xz'));
    const none = await runJob(job('xz as none', 'website.tsv', 's3://logs/plain-as-none/'));
    assert.match(none.details.errors[0], /is xz-compressed .* but the transform says compression "none": set "compression": "xz"/);
  });
});

async function tableId(name: string): Promise<string> {
  const tables = await inlet.api.request('GET', tablesUrl);
  return tables.body.find((t: { name: string }) => t.name === name).uuid;
}

describe('partitions', () => {
  test('files are sorted by the primary timestamp, with Parquet statistics; limits on rows and minutes hold; the catalog keeps each one', async () => {
    const done = await runJob(job('cdn parts', 'website.cdn', 's3://logs/cdn/access.log', { max_minutes_per_partition: 30, max_rows_per_partition: 25, force: true }));
    assert.equal(done.status, 'done');
    const parts = await inlet.service.catalog.db.selectFrom('partitions').selectAll().where('job_id', '=', done.uuid).execute();
    assert.equal(
      parts.reduce((s, p) => s + p.rows, 0),
      240,
    );
    assert.deepEqual(done.details.partitions.count, parts.length);
    const engine = await DuckDBInstance.create(':memory:');
    await withConnection(engine, undefined, async (c) => {
      for (const p of parts) {
        assert.ok(p.rows <= 25 && p.max_ts_ms - p.min_ts_ms < 30 * 60_000, JSON.stringify(p));
        assert.ok(p.bytes > 0 && p.task_id && p.job_id === done.uuid);
        const file = path.join(inlet.dataDir, 'partitions', p.path);
        const [order] = await queryRows<{ descents: bigint; n: bigint }>(
          c,
          `SELECT count(*) FILTER (WHERE time < prev) AS descents, count(*) AS n FROM (SELECT time, lag(time) OVER (ORDER BY file_row_number) AS prev FROM read_parquet('${file}', file_row_number=true))`,
        );
        assert.equal(order!.descents, 0n, `${p.path} is not sorted`);
        assert.equal(Number(order!.n), p.rows);
        const [stats] = await queryRows<{ lo: string }>(c, `SELECT stats_min AS lo FROM parquet_metadata('${file}') WHERE path_in_schema = 'time'`);
        assert.equal(stats!.lo, new Date(p.min_ts_ms).toISOString().replace('T', ' ').slice(0, 19));
      }
    });
    engine.closeSync();
  });
  test('a task whose rows would make more partitions than INLET_MAX_PARTITIONS_PER_TASK fails before writing any, naming the settings to raise; so does its dry run', async () => {
    for (const dryRun of [false, true]) {
      const done = await runJob(job(`cdn row a partition ${dryRun}`, 'website.cdn', 's3://logs/cdn/access.log', { max_rows_per_partition: 1, dry_run: dryRun, force: true }));
      assert.equal(done.status, 'failed');
      assert.match(
        done.details.errors[0],
        /\(time from 2024-10-10T20:00:00\.000Z to 2024-10-10T21:59:47\.000Z\) fall in 8 windows, split at max_rows_per_partition=1 rows into 240 partitions: more than the 200 partitions/,
      );
      assert.match(done.details.errors[0], /Raise settings\.max_minutes_per_partition or settings\.max_rows_per_partition/);
      assert.equal((await inlet.service.catalog.db.selectFrom('partitions').selectAll().where('job_id', '=', done.uuid).execute()).length, 0);
    }
    const fewer = await runJob(job('cdn two rows a partition', 'website.cdn', 's3://logs/cdn/access.log', { max_rows_per_partition: 2, dry_run: true, force: true }));
    assert.equal(fewer.status, 'done', JSON.stringify(fewer.details));
    assert.equal(fewer.details.partitions.count, 120);
  });
});

describe('unreadable files', () => {
  test('a file whose lone carriage return the reader cannot read fails its task naming it, and the other file of the task is reported as not loaded', async () => {
    const row = (i: number) => `2024-01-01 00:00:0${i},h${i},200,1,1,true`;
    await s3.put('logs', 'mixed-eol/a.csv', `timestamp,host,status,bytes,latency,cached\n${row(0)}\r\n${row(1)}\n${row(2)}\r${row(3)}\n`);
    await s3.put('logs', 'mixed-eol/b.csv', `timestamp,host,status,bytes,latency,cached\n${row(4)}\n`);
    const done = await runJob(referenceJob('mixed line endings', 's3://logs/mixed-eol/', { settings: { force: true } }));
    assert.equal(done.status, 'failed');
    assert.match(done.details.errors[0], /s3:\/\/logs\/mixed-eol\/a\.csv mixes line endings in a way the reader cannot read/);
    const files = (await inlet.api.request('GET', `${jobs()}/${done.uuid}/files`)).body;
    assert.deepEqual(
      files.map((f: { url: string; error: string }) => [f.url.split('/').pop(), /mixes line endings/.test(f.error) ? 'this one' : f.error]),
      [
        ['a.csv', 'this one'],
        ['b.csv', 'not loaded: another file of the same task could not be read'],
      ],
    );
  });
});

describe('dry runs', () => {
  test('a dry run reads and converts every row and reports what it would write, writing nothing', async () => {
    const before = await query('SELECT count() FROM website.cdn');
    const partitionsBefore = readdirSync(path.join(inlet.dataDir, 'partitions'), { recursive: true }).length;
    const done = await runJob(job('cdn dry', 'website.cdn', 's3://logs/cdn/', { dry_run: true, max_minutes_per_partition: 60, force: true }));
    assert.equal(done.status, 'done');
    assert.equal(done.settings.dry_run, true);
    assert.deepEqual(done.details.rows, { read: 242 * 7, written: 240 * 7, rejected: 2 * 7 });
    assert.equal(done.details.files[0].rejects.length, 2);
    // Seven tasks' worth (one per file group) of two hour-windows each, from 20:00 to 21:59:47 UTC.
    assert.ok(done.details.partitions.count >= 2, JSON.stringify(done.details.partitions));
    assert.equal(done.details.partitions.min_time, '2024-10-10T20:00:00.000Z');
    assert.equal(done.details.partitions.max_time, '2024-10-10T21:59:47.000Z');
    assert.equal(await query('SELECT count() FROM website.cdn'), before);
    assert.equal(readdirSync(path.join(inlet.dataDir, 'partitions'), { recursive: true }).length, partitionsBefore);
    assert.equal((await inlet.service.catalog.db.selectFrom('partitions').selectAll().where('job_id', '=', done.uuid).execute()).length, 0);
  });

  test('a dry run over the reference CSV counts the partitions exactly', async () => {
    await s3.put('logs', 'events/a.csv', csvOf(logRows(720, Date.UTC(2024, 2, 1, 0, 15), 10)));
    const done = await runJob({ ...referenceJob('events dry', 's3://logs/events/', { settings: { dry_run: true } }) });
    assert.equal(done.status, 'done', JSON.stringify(done.details));
    assert.deepEqual(done.details.partitions, { count: 8, min_time: '2024-03-01T00:15:00.000Z', max_time: '2024-03-01T02:14:50.000Z' });
  });
});
