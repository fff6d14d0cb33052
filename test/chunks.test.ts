import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { chunksOf } from '../src/worker/index-task.js';
import { csvOf, CSV_TRANSFORM, logRows, referenceJob } from './helpers/data.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

test('chunks keep listing order, cap their bytes (the first at an eighth), and give an oversized object a chunk of its own', () => {
  const sizes = [5, 5, 10, 10, 10, 50, 5, 5, 100, 1].map((size) => ({ size }));
  assert.deepEqual(chunksOf(sizes, 40), [[0], [1, 2, 3, 4], [5], [6, 7], [8], [9]]);
  assert.deepEqual(chunksOf(sizes, 80), [[0, 1], [2, 3, 4, 5], [6, 7], [8], [9]]);
  assert.deepEqual(chunksOf(sizes, 20), [[0], [1, 2], [3, 4], [5], [6, 7], [8], [9]]);
  assert.deepEqual(chunksOf([], 30), []);
});

let s3: LocalS3;
let inlet: TestInlet;
before(async () => {
  s3 = await startLocalS3();
  // Every object is a chunk of its own: one task converts and writes four times, downloading ahead.
  inlet = await startInlet({ s3Endpoint: s3.endpoint, chunkBytes: '1' });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
  await s3.createBucket('chunks');
});
after(async () => {
  await inlet?.stop();
  await s3?.stop();
});

test('a task read in several chunks loads every row once and reports each file on its own', async () => {
  const bad = csvOf(logRows(50, Date.UTC(2024, 7, 1, 1))).replace('2024-08-01 01:00:03,', 'garbage,');
  await s3.put('chunks', 'in/a.csv', csvOf(logRows(100, Date.UTC(2024, 7, 1))));
  await s3.put('chunks', 'in/b.csv', bad);
  await s3.put('chunks', 'in/c.csv', csvOf(logRows(70, Date.UTC(2024, 7, 1, 0, 1))));
  await s3.put('chunks', 'in/d.csv', csvOf(logRows(30, Date.UTC(2024, 7, 2))));
  const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob('chunked', 's3://chunks/in/'));
  const done = await inlet.api.waitForJob(created.body.uuid);
  assert.equal(done.status, 'done', JSON.stringify(done.details));
  assert.deepEqual(done.details.status_detail.tasks, { LIST: { DONE: 1 }, INDEX: { DONE: 1 } });
  assert.deepEqual(done.details.rows, { read: 250, written: 249, rejected: 1 });
  const files = (await inlet.api.request('GET', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch/${created.body.uuid}/files`)).body;
  assert.deepEqual(
    files.map((f: any) => [f.url.split('/').pop(), f.rows_written, f.rows_rejected]),
    [
      ['a.csv', 100, 0],
      ['b.csv', 49, 1],
      ['c.csv', 70, 0],
      ['d.csv', 30, 0],
    ],
  );
  assert.equal(files[1].rejects[0].line, 5, 'the header and three rows come before the bad line');
  const filesUrl = `/config/v1/orgs/${inlet.api.orgId}/jobs/batch/${created.body.uuid}/files`;
  assert.deepEqual(
    (await inlet.api.request('GET', `${filesUrl}?offset=3&limit=1`)).body.map((f: any) => f.url.split('/').pop()),
    ['d.csv'],
  );
  // An offset past any catalog's integers is a 400, not the database's error.
  for (const offset of ['1e308', '9223372036854775807', '-1']) assert.equal((await inlet.api.request('GET', `${filesUrl}?offset=${offset}`)).status, 400, offset);
  const count = await inlet.api.query('SELECT count(), count(DISTINCT (timestamp, bytes)) FROM website.events');
  assert.equal(count.text, '249\t249\n');
  // a.csv and c.csv share the 00:00 window but sit in different chunks: one partition each, none spanning over 15 minutes.
  const partitions = await inlet.service.catalog.db.selectFrom('partitions').selectAll().where('job_id', '=', created.body.uuid).execute();
  assert.equal(
    partitions.reduce((sum, p) => sum + p.rows, 0),
    249,
  );
  for (const p of partitions) assert.ok(p.max_ts_ms - p.min_ts_ms < 15 * 60_000);
});
