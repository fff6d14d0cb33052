import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { csvOf, CSV_TRANSFORM, logRows, referenceJob } from './helpers/data.js';
import { FaultProxy } from './helpers/fault-proxy.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

let s3: LocalS3;
let proxy: FaultProxy;
let inlet: TestInlet;
let root: string;

before(async () => {
  s3 = await startLocalS3();
  proxy = new FaultProxy(s3.endpoint);
  await proxy.start();
  root = mkdtempSync(path.join(tmpdir(), 'inlet-changed-'));
  // One slot: a job's INDEX tasks run one after the other.
  inlet = await startInlet({ s3Endpoint: proxy.endpoint, fileRoots: root, workers: '1' });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
  await s3.createBucket('changing');
});
after(async () => {
  await inlet?.stop();
  await proxy?.stop();
  await s3?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

async function start(name: string, url: string, settings: Record<string, unknown> = {}): Promise<string> {
  const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob(name, url, { settings }));
  assert.equal(created.status, 200, created.text);
  return created.body.uuid;
}

/** The version a reader sees is not the one listed: the file fails with both, and none of its rows load. */
function assertChanged(done: any, url: string, listed: RegExp, now: RegExp) {
  assert.equal(done.status, 'failed', JSON.stringify(done.details));
  const file = done.details.files.find((f: { url: string }) => f.url === url);
  assert.ok(file, JSON.stringify(done.details.files));
  assert.match(file.error, new RegExp(`^${url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} changed after the job listed it \\(listed: ${listed.source}; now: ${now.source}\\): it was not loaded`));
  assert.equal(file.rows_written, 0);
  assert.match(done.details.errors[0], /changed after the job listed it/);
}

describe('an object that changes between listing and reading is not loaded', () => {
  test('S3: an object replaced after the listing fails with both ETags', async () => {
    const first = csvOf(logRows(50, Date.UTC(2023, 5, 1)));
    await s3.put('changing', 'swap/a.csv', first);
    // The new version lands just as Inlet asks for the object: the listing saw the old one.
    const rule = proxy.before('GET', /^\/changing\/swap\/a\.csv$/, () => s3.put('changing', 'swap/a.csv', first.slice(0, first.length / 2)));
    const done = await inlet.api.waitForJob(await start('swapped object', 's3://changing/swap/'));
    assert.equal(rule.hits, 1);
    assertChanged(done, 's3://changing/swap/a.csv', /ETag [0-9a-f]{32}/, /ETag [0-9a-f]{32}/);
    assert.deepEqual(done.details.rows, { read: 0, written: 0, rejected: 0 });
  });

  test('file://: a file truncated and rewritten in place while its job runs fails with its size and time as listed and now', async () => {
    const dir = path.join(root, 'rewrite');
    mkdirSync(dir);
    // A first task big enough to still be running when the second file is rewritten under the job.
    writeFileSync(path.join(dir, 'a-slow.csv'), csvOf(logRows(300_000, Date.UTC(2023, 6, 1))));
    const target = path.join(dir, 'b-target.csv');
    writeFileSync(target, csvOf(logRows(100, Date.UTC(2023, 7, 1))));
    const jobId = await start('rewritten file', `file://${dir}/`, { input_aggregation: 1, input_concurrency: 1 });
    for (let i = 0; ; i++) {
      const job = await inlet.api.waitForJob(jobId, () => true);
      if (job.details.status_detail.tasks.LIST?.DONE === 1) break;
      assert.ok(i < 2000, `the listing never ended: ${JSON.stringify(job.details)}`);
      await delay(5);
    }
    // Truncated, then written again: a torn row at the cut is what a reader at that moment sees.
    writeFileSync(target, csvOf(logRows(40, Date.UTC(2023, 8, 1))).slice(0, -7));
    const done = await inlet.api.waitForJob(jobId, undefined, 120_000);
    assertChanged(done, `file://${target}`, /size \d+, modified [^;]+ \(\d+ ns\)/, /size \d+, modified [^;]+ \(\d+ ns\)/);
    assert.equal(done.details.rows.written, 300_000, 'the file that did not change loads');
    const rows = await inlet.api.query(`SELECT count() FROM website.events WHERE timestamp >= '2023-08-01'`);
    assert.equal(rows.text, '0\n');
  });
});
