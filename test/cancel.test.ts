import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { csvOf, CSV_TRANSFORM, goTime, logRows, referenceJob } from './helpers/data.js';
import { FaultProxy } from './helpers/fault-proxy.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

let s3: LocalS3;
let proxy: FaultProxy;
let inlet: TestInlet;
const root = mkdtempSync(path.join(tmpdir(), 'inlet-cancel-'));
const jobs = () => `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`;

/** Rows enough that converting and writing them takes DuckDB far longer than the test waits. */
const BIG_ROWS = 4_000_000;

before(async () => {
  s3 = await startLocalS3();
  proxy = new FaultProxy(s3.endpoint);
  await proxy.start();
  await s3.createBucket('cancel');
  await s3.put('cancel', 'stalled/one.csv', csvOf(logRows(20_000)));
  await s3.put('cancel', 'small/one.csv', csvOf(logRows(100, Date.UTC(2024, 6, 1))));
  // Every download of the stalled object stops halfway and never ends.
  proxy.fail('GET', /^\/cancel\/stalled\//, 'stall');
  const line = `${goTime(new Date(Date.UTC(2024, 2, 1)))},a.example.com,200,1000,0.5,true\n`;
  const block = line.repeat(100_000);
  writeFileSync(path.join(root, 'big.csv'), 'timestamp,host,status,bytes,latency,cached\n' + block.repeat(BIG_ROWS / 100_000));
  // One slot: while a task holds it, nothing else runs.
  inlet = await startInlet({ s3Endpoint: proxy.endpoint, workers: '1', fileRoots: root });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
});

after(async () => {
  await inlet?.stop();
  await proxy?.stop();
  await s3?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function waitUntilIndexRuns(jobId: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const [job] = (await inlet.api.request('GET', `${jobs()}/${jobId}/status`)).body;
    if (job.details.status_detail.tasks.INDEX?.RUNNING === 1) return;
    await delay(50);
  }
  throw new Error(`job ${jobId} never ran its INDEX task`);
}

/** Cancels `jobId` while its INDEX task works, then times a small job through the one slot. */
async function cancelThenRunAnother(jobId: string, name: string): Promise<number> {
  const canceled = await inlet.api.request('POST', `${jobs()}/${jobId}/cancel`);
  assert.equal(canceled.status, 200, canceled.text);
  const canceledAt = Date.now();
  // The same small object each time: force, or the ledger would skip what the first run loaded.
  const next = await inlet.api.request('POST', jobs(), referenceJob(name, 's3://cancel/small/', { settings: { force: true } }));
  assert.equal(next.status, 200, next.text);
  const done = await inlet.api.waitForJob(next.body.uuid, undefined, 60_000);
  assert.equal(done.status, 'done', JSON.stringify(done.details));
  assert.equal(done.details.rows.written, 100);
  return Date.now() - canceledAt;
}

test('a cancel stops a stalled download at once: the slot is free, and another job runs', { timeout: 120_000 }, async () => {
  const created = await inlet.api.request('POST', jobs(), referenceJob('stalled', 's3://cancel/stalled/'));
  assert.equal(created.status, 200, created.text);
  await waitUntilIndexRuns(created.body.uuid);
  await delay(500);
  const ms = await cancelThenRunAnother(created.body.uuid, 'after the stalled one');
  assert.ok(ms < 15_000, `the next job took ${ms} ms to run after the cancel`);
  const [canceled] = (await inlet.api.request('GET', `${jobs()}/${created.body.uuid}/status`)).body;
  assert.equal(canceled.status, 'canceled');
  assert.equal(canceled.details.rows.written, 0);
});

test('a cancel interrupts DuckDB mid-conversion: the slot is free, and another job runs', { timeout: 180_000 }, async () => {
  const created = await inlet.api.request('POST', jobs(), referenceJob('big', `file://${root}/big.csv`));
  assert.equal(created.status, 200, created.text);
  await waitUntilIndexRuns(created.body.uuid);
  // Well into the conversion (the file is read in place: no download first).
  await delay(2000);
  const ms = await cancelThenRunAnother(created.body.uuid, 'after the big one');
  assert.ok(ms < 15_000, `the next job took ${ms} ms to run after the cancel`);
  const [canceled] = (await inlet.api.request('GET', `${jobs()}/${created.body.uuid}/status`)).body;
  assert.equal(canceled.status, 'canceled');
  assert.equal(canceled.details.rows.written, 0);
});
