import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { csvOf, CSV_TRANSFORM, logRows, referenceJob } from './helpers/data.js';
import { FaultProxy } from './helpers/fault-proxy.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

const FILES = 20;
const ROWS_PER_FILE = 2000;
let s3: LocalS3;
let proxy: FaultProxy;
let inlet: TestInlet;

before(async () => {
  s3 = await startLocalS3();
  proxy = new FaultProxy(s3.endpoint);
  await proxy.start();
  await s3.createBucket('progress');
  for (let f = 0; f < FILES; f++) {
    await s3.put('progress', `logs/part-${String(f).padStart(3, '0')}.csv`, csvOf(logRows(ROWS_PER_FILE, Date.UTC(2024, 6, 1), 1, f * ROWS_PER_FILE)));
  }
  // A chunk per file, so the one INDEX task converts its files one after the other; statuses are not reused.
  inlet = await startInlet({ s3Endpoint: proxy.endpoint, workers: '1', chunkBytes: '150000', readAttempts: '6', statusCacheMs: '0' });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
});
after(async () => {
  await inlet?.stop();
  await proxy?.stop();
  await s3?.stop();
});

test('a job of one INDEX task over 20 files shows its progress while it runs, and its committed rows at the end', async () => {
  // The last file's body is cut off five times: the task waits seconds on it (Inlet retries
  // with backoff) after the other files are read and converted, long enough for lease renewals to report them.
  const stall = proxy.fail('GET', /^\/progress\/logs\/part-019\.csv$/, 'truncate', 5);
  const { api } = inlet;
  const created = await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch`, referenceJob('watched progress', 's3://progress/logs/'));
  assert.equal(created.status, 200, created.text);
  const jobId: string = created.body.uuid;
  let midway: any;
  let partly: any;
  let last: any;
  for (let i = 0; i < 3000; i++) {
    [last] = (await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch/${jobId}/status`)).body;
    if (last.status === 'done' || last.status === 'failed') break;
    const percent = last.details.status_detail.percent_complete;
    if (percent > 0 && percent < 1) {
      midway ??= last;
      // A renewal may report before the first chunk converts, or after the last: one status in between is asked for.
      const rowsRead = last.details.in_flight.rows_read;
      if (rowsRead > 0 && rowsRead < FILES * ROWS_PER_FILE) partly ??= last;
    }
    await delay(20);
  }
  assert.equal(last.status, 'done', JSON.stringify(last.details));
  assert.equal(stall.hits, 5, 'the last file was held back as planned');
  assert.ok(midway, 'percent_complete went from 0 to 1 with nothing between');
  assert.deepEqual(midway.details.status_detail.tasks, { LIST: { DONE: 1 }, INDEX: { RUNNING: 1 } });
  assert.ok(midway.details.in_flight.bytes_read > 0, JSON.stringify(midway.details));
  assert.ok(partly, 'no status showed some of the rows converted and not all');
  // Rows stay the committed figures: nothing is committed before the task is.
  assert.deepEqual(midway.details.rows, { read: 0, written: 0, rejected: 0 });
  assert.deepEqual(last.details.rows, { read: FILES * ROWS_PER_FILE, written: FILES * ROWS_PER_FILE, rejected: 0 });
  assert.deepEqual(last.details.in_flight, { bytes_read: 0, rows_read: 0 });
  assert.equal(last.details.status_detail.percent_complete, 1);
  assert.deepEqual(last.details.status_detail.tasks, { LIST: { DONE: 1 }, INDEX: { DONE: 1 } });
});
