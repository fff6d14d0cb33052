import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { csvOf, CSV_TRANSFORM, gzip, logRows, referenceJob } from './helpers/data.js';
import { FaultProxy } from './helpers/fault-proxy.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

let s3: LocalS3;
let proxy: FaultProxy;
let inlet: TestInlet;
const ROWS = 2000;

before(async () => {
  s3 = await startLocalS3();
  proxy = new FaultProxy(s3.endpoint);
  await proxy.start();
  inlet = await startInlet({ s3Endpoint: proxy.endpoint });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
  await s3.createBucket('faulty');
});
after(async () => {
  await inlet?.stop();
  await proxy?.stop();
  await s3?.stop();
});

async function run(name: string, prefix: string) {
  const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob(name, `s3://faulty/${prefix}/`, { settings: { input_aggregation: 1 } }));
  assert.equal(created.status, 200, created.text);
  return inlet.api.waitForJob(created.body.uuid);
}

describe('reading objects that fail', () => {
  for (const fault of ['status500', 'reset', 'truncate'] as const) {
    test(`a ${fault} that clears up is retried, and every row loads once`, async () => {
      await s3.put('faulty', `${fault}/ok.csv`, csvOf(logRows(ROWS, Date.UTC(2023, 0, 1))));
      await s3.put('faulty', `${fault}/flaky.csv.gz`, gzip(csvOf(logRows(ROWS, Date.UTC(2023, 0, 2)))));
      // The SDK retries a 500 or a reset by itself; a cut-off body is Inlet's to retry.
      const rule = proxy.fail('GET', new RegExp(`^/faulty/${fault}/flaky`), fault, fault === 'truncate' ? 1 : 4);
      const done = await run(`recovers from ${fault}`, fault);
      assert.equal(done.status, 'done', JSON.stringify(done.details));
      assert.deepEqual(done.details.rows, { read: 2 * ROWS, written: 2 * ROWS, rejected: 0 });
      assert.ok(rule.hits >= 1);
    });
  }

  test('an object that never reads fails its task after bounded retries, and the job names it', async () => {
    await s3.put('faulty', 'broken/good.csv', csvOf(logRows(ROWS, Date.UTC(2023, 1, 1))));
    await s3.put('faulty', 'broken/bad.csv', csvOf(logRows(ROWS, Date.UTC(2023, 1, 2))));
    const rule = proxy.fail('GET', /^\/faulty\/broken\/bad\.csv$/, 'truncate');
    const done = await run('never reads', 'broken');
    assert.equal(done.status, 'failed');
    assert.deepEqual(done.details.status_detail.tasks, { LIST: { DONE: 1 }, INDEX: { DONE: 1, FAILED: 1 } });
    assert.equal(rule.hits, 3, 'INLET_READ_ATTEMPTS (3) attempts, then give up');
    assert.equal(done.details.errors.length, 1);
    assert.match(done.details.errors[0], /s3:\/\/faulty\/broken\/bad\.csv could not be read/);
    const bad = done.details.files.find((f: any) => f.url.endsWith('bad.csv'));
    assert.match(bad.error, /could not be read/);
    // The good file's task committed: its rows are queryable, the job is failed but not lost.
    assert.equal(done.details.rows.written, ROWS);
    const count = await inlet.api.query(`SELECT count() FROM website.events WHERE timestamp >= '2023-02-01' AND timestamp < '2023-02-03'`);
    assert.equal(count.text, `${ROWS}\n`);
  });
});
