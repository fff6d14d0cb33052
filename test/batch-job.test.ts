import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { csvOf, CSV_TRANSFORM, gzip, JSON_TRANSFORM, logRows, ndjsonOf, referenceJob } from './helpers/data.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

let s3: LocalS3;
let inlet: TestInlet;
const jobs = () => `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`;

async function runJob(body: object) {
  const created = await inlet.api.request('POST', jobs(), body);
  assert.equal(created.status, 200, created.text);
  return inlet.api.waitForJob(created.body.uuid);
}

async function count(where = ''): Promise<number> {
  const result = await inlet.api.query(`SELECT count() FROM website.events ${where}`);
  assert.equal(result.status, 200, result.text);
  return Number(result.text.trim());
}

before(async () => {
  s3 = await startLocalS3();
  inlet = await startInlet({ s3Endpoint: s3.endpoint });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM, JSON_TRANSFORM]);
  await s3.createBucket('root-bucket');
  // folder1: three CSV files with a header, one of them gzipped; 300 rows in all.
  await s3.put('root-bucket', 'folder1/a.csv', csvOf(logRows(100, Date.UTC(2024, 0, 1))));
  await s3.put('root-bucket', 'folder1/b.csv', csvOf(logRows(120, Date.UTC(2024, 0, 2))));
  await s3.put('root-bucket', 'folder1/sub/c.csv.gz', gzip(csvOf(logRows(80, Date.UTC(2024, 0, 3)))));
  await s3.put('root-bucket', 'json/one.json', ndjsonOf(logRows(50, Date.UTC(2024, 1, 1))));
  await s3.put('root-bucket', 'json/two.json', ndjsonOf(logRows(70, Date.UTC(2024, 1, 2))));
});

after(async () => {
  await inlet?.stop();
  await s3?.stop();
});

describe('the reference flow', () => {
  test('a job created with the page body answers ready, with defaults echoed and one LIST task', async () => {
    const created = await inlet.api.request('POST', jobs(), referenceJob('My Batch job', 's3://root-bucket/folder1/'));
    assert.equal(created.status, 200, created.text);
    const job = created.body;
    assert.equal(job.status, 'ready');
    assert.equal(job.type, 'batch_import');
    assert.equal(job.org, inlet.api.orgId);
    assert.match(job.uuid, /^[0-9a-f-]{36}$/);
    assert.match(job.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.deepEqual(
      { ...job.settings, source: undefined },
      {
        max_active_partitions: 576,
        max_rows_per_partition: 33554432,
        max_minutes_per_partition: 15,
        input_concurrency: 1,
        input_aggregation: 1536000000,
        max_files: 0,
        dry_run: false,
        regex_filter: '',
        source: undefined,
      },
    );
    assert.deepEqual(job.settings.source, {
      table: 'website.events',
      type: 'batch',
      subtype: 'aws s3',
      transform: 'mytransformname',
      settings: { url: 's3://root-bucket/folder1/' },
    });
    assert.deepEqual(job.details.errors, []);
    assert.match(job.details.job_id, /^jobid-/);
    assert.equal(typeof job.details.duration_ms, 'number');
    assert.deepEqual(job.details.status_detail, { tasks: { LIST: { READY: 1 } }, estimated: true, percent_complete: 0 });

    const done = await inlet.api.waitForJob(job.uuid);
    assert.equal(done.status, 'done', JSON.stringify(done.details));
    assert.equal(done.details.status_detail.percent_complete, 1);
    assert.equal(done.details.status_detail.estimated, false);
    assert.deepEqual(done.details.status_detail.tasks, { LIST: { DONE: 1 }, INDEX: { DONE: 1 } });
    assert.deepEqual(done.details.rows, { read: 300, written: 300, rejected: 0 });
    assert.equal(await count(), 300);
  });

  test('status answers GET and POST with an array holding the job; the trailing slash is optional', async () => {
    const [list] = (await inlet.api.request('GET', jobs())).body;
    for (const method of ['GET', 'POST']) {
      for (const suffix of ['status', 'status/']) {
        const response = await inlet.api.request(method, `${jobs()}/${list.uuid}/${suffix}`);
        assert.equal(response.status, 200, `${method} ${suffix}`);
        assert.ok(Array.isArray(response.body));
        assert.equal(response.body[0].uuid, list.uuid);
      }
    }
  });

  test('NDJSON through its own transform, one INDEX task per file when input_aggregation is small', async () => {
    const before = await count();
    const done = await runJob(referenceJob('ndjson job', 's3://root-bucket/json/', { transform: 'ndjson', settings: { input_aggregation: 1 } }));
    assert.equal(done.status, 'done', JSON.stringify(done.details));
    assert.deepEqual(done.details.status_detail.tasks, { LIST: { DONE: 1 }, INDEX: { DONE: 2 } });
    assert.deepEqual(done.details.rows, { read: 120, written: 120, rejected: 0 });
    assert.equal((await count()) - before, 120);
    const feb = await inlet.api.query(`SELECT count(), min(timestamp), max(timestamp) FROM website.events WHERE timestamp >= '2024-02-01'`);
    assert.equal(feb.text, '120\t2024-02-01 00:00:00\t2024-02-02 00:01:09\n');
  });
});

describe('what a job reads', () => {
  test('a single object URL reads just that object', async () => {
    const done = await runJob(referenceJob('single', 's3://root-bucket/folder1/b.csv', { settings: { force: true } }));
    assert.equal(done.status, 'done');
    assert.equal(done.details.rows.written, 120);
  });

  test('regex_filter is matched against the full s3:// URL', async () => {
    const done = await runJob(referenceJob('regex', 's3://root-bucket/', { settings: { regex_filter: '^s3://root-bucket/folder1/.*\\.gz$', force: true } }));
    assert.equal(done.status, 'done');
    assert.equal(done.details.rows.written, 80);
  });

  test('max_files caps the listing, in key order', async () => {
    const done = await runJob(referenceJob('max files', 's3://root-bucket/folder1/', { settings: { max_files: 2, force: true } }));
    assert.equal(done.status, 'done');
    assert.equal(done.details.rows.written, 220);
  });

  test('an empty prefix finishes done with zero rows', async () => {
    const done = await runJob(referenceJob('empty', 's3://root-bucket/nothing-here/'));
    assert.equal(done.status, 'done');
    assert.equal(done.details.status_detail.percent_complete, 1);
    assert.deepEqual(done.details.status_detail.tasks, { LIST: { DONE: 1 } });
    assert.deepEqual(done.details.rows, { read: 0, written: 0, rejected: 0 });
  });

  test('the create answer is the job as created, however fast a worker claims its LIST task', async () => {
    // Workers are nudged as the job is created; the answer must not mix 'ready' with a task already
    // running. A worker claims within a millisecond or two, so the race shows only now and then: hence 20.
    for (let i = 0; i < 20; i++) {
      const { status, body, text } = await inlet.api.request('POST', jobs(), referenceJob(`created ${i}`, 's3://root-bucket/nothing-at-all/'));
      assert.equal(status, 200, text);
      assert.equal(body.status, 'ready');
      assert.deepEqual(body.details.status_detail, { tasks: { LIST: { READY: 1 } }, estimated: true, percent_complete: 0 }, `job ${i}`);
      // Each job is created while the workers are idle, as a user's usually is.
      assert.equal((await inlet.api.waitForJob(body.uuid)).status, 'done');
    }
  });

  test('a missing bucket fails the job with an error that says so', async () => {
    const done = await runJob(referenceJob('no bucket', 's3://no-such-bucket/logs/'));
    assert.equal(done.status, 'failed');
    assert.equal(done.details.errors.length, 1);
    assert.match(done.details.errors[0], /LIST task failed: .*no-such-bucket.*bucket does not exist/);
    assert.deepEqual(done.details.status_detail.tasks, { LIST: { FAILED: 1 } });
  });

  test('a table or transform that does not exist is a 400 naming it', async () => {
    const noTable = await inlet.api.request('POST', jobs(), { ...referenceJob('x1', 's3://root-bucket/'), settings: { source: { table: 'website.nope', settings: { url: 's3://root-bucket/' } } } });
    assert.equal(noTable.status, 400);
    assert.match(noTable.body.detail, /website\.nope.*no table "nope"/);
    const noProject = await inlet.api.request('POST', jobs(), { ...referenceJob('x2', 's3://root-bucket/'), settings: { source: { table: 'shop.events', settings: { url: 's3://root-bucket/' } } } });
    assert.equal(noProject.status, 400);
    assert.match(noProject.body.detail, /no project "shop"/);
    const noTransform = await inlet.api.request('POST', jobs(), referenceJob('x3', 's3://root-bucket/', { transform: 'missing' }));
    assert.equal(noTransform.status, 400);
    assert.match(noTransform.body.detail, /transform "missing"/);
    const badUrl = await inlet.api.request('POST', jobs(), referenceJob('x4', 'http://example.com/x'));
    assert.equal(badUrl.status, 400);
    assert.match(badUrl.body.detail, /settings\.source\.settings\.url/);
  });

  test('job names are unique in an org', async () => {
    const first = await inlet.api.request('POST', jobs(), referenceJob('twice', 's3://root-bucket/nothing/'));
    assert.equal(first.status, 200);
    const second = await inlet.api.request('POST', jobs(), referenceJob('twice', 's3://root-bucket/nothing/'));
    assert.equal(second.status, 409);
    assert.match(second.body.detail, /"twice" already exists/);
  });
});

describe('rows that do not load', () => {
  test('bad rows among good ones: exact counts, with file, line and reason', async () => {
    const good = csvOf(logRows(10, Date.UTC(2024, 5, 1)))
      .trimEnd()
      .split('\n');
    const lines = [
      ...good.slice(0, 4), // header + 3 good rows (lines 1-4)
      '2024-06-01 00:00:10,a.example.com,notanumber,1,1.0,true', // line 5: status not a number
      '2024-06-01 00:00:11,a.example.com,200,1,1.0', // line 6: a field short
      'not a time,a.example.com,200,1,1.0,true', // line 7: bad primary timestamp
      ...good.slice(4), // 7 good rows (lines 8-14)
      '2024-06-01 00:01:00,a.example.com,-5,1,1.0,true', // line 15: negative uint32
      ',a.example.com,200,1,1.0,true', // line 16: missing primary
    ];
    await s3.put('root-bucket', 'bad/mixed.csv', lines.join('\n') + '\n');
    const done = await runJob(referenceJob('bad rows', 's3://root-bucket/bad/'));
    assert.equal(done.status, 'done', JSON.stringify(done.details));
    assert.deepEqual(done.details.rows, { read: 15, written: 10, rejected: 5 });
    const [file] = done.details.files;
    assert.equal(file.url, 's3://root-bucket/bad/mixed.csv');
    assert.equal(file.rows_rejected, 5);
    assert.deepEqual(
      file.rejects.map((r: { line: number; column: string | null }) => [r.line, r.column]),
      [
        [5, 'status'],
        [6, 'cached'],
        [7, 'timestamp'],
        [15, 'status'],
        [16, 'timestamp'],
      ],
    );
    assert.match(file.rejects[0].reason, /cannot convert 'notanumber' to uint32/);
    assert.match(file.rejects[1].reason, /MISSING COLUMNS/);
    assert.match(file.rejects[4].reason, /primary timestamp is missing/);
    const loaded = await count(`WHERE timestamp >= '2024-06-01' AND timestamp < '2024-06-02'`);
    assert.equal(loaded, 10);
  });

  test('a file that is not what its compression says fails its task, and the job says why', async () => {
    await s3.put('root-bucket', 'liar/fake.csv.gz', csvOf(logRows(5)));
    const done = await runJob(referenceJob('liar', 's3://root-bucket/liar/'));
    assert.equal(done.status, 'failed');
    assert.match(done.details.errors[0], /fake\.csv\.gz is not gzip data/);
    assert.equal(done.details.files[0].error.includes('is not gzip data'), true);
  });
});

describe('partitions', () => {
  test('2 hours of data with max_minutes_per_partition 15 gives partitions of at most 15 minutes', async () => {
    // One row every 10 s for 2 h, starting at a quarter past: 8 windows, every boundary crossed.
    await s3.put('root-bucket', 'twohours/data.csv', csvOf(logRows(720, Date.UTC(2024, 2, 1, 0, 15), 10)));
    const done = await runJob(referenceJob('two hours', 's3://root-bucket/twohours/', { settings: { max_minutes_per_partition: 15 } }));
    assert.equal(done.status, 'done');
    const rows = await inlet.service.catalog.db.selectFrom('partitions').selectAll().where('job_id', '=', done.uuid).execute();
    assert.ok(rows.length >= 8, `${rows.length} partitions`);
    for (const p of rows) assert.ok(p.max_ts_ms - p.min_ts_ms < 15 * 60_000, `partition spans ${(p.max_ts_ms - p.min_ts_ms) / 60_000} min`);
    assert.equal(
      rows.reduce((sum, p) => sum + p.rows, 0),
      720,
    );
    for (const p of rows) assert.ok(readdirSync(path.join(inlet.dataDir, 'partitions', path.dirname(p.path))).length >= 1);
  });

  test('max_rows_per_partition is honoured', async () => {
    await s3.put('root-bucket', 'manyrows/data.csv', csvOf(logRows(1000, Date.UTC(2024, 3, 1), 1)));
    const done = await runJob(referenceJob('row cap', 's3://root-bucket/manyrows/', { settings: { max_rows_per_partition: 100, max_minutes_per_partition: 60 } }));
    assert.equal(done.status, 'done');
    const rows = await inlet.service.catalog.db.selectFrom('partitions').selectAll().where('job_id', '=', done.uuid).execute();
    assert.ok(rows.length >= 10);
    for (const p of rows) assert.ok(p.rows <= 100, `partition of ${p.rows} rows`);
    assert.equal(
      rows.reduce((sum, p) => sum + p.rows, 0),
      1000,
    );
  });
});
