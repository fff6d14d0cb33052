import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createOrgWithUser } from '../src/catalog/accounts.js';
import { createJob, getJob, retryJob } from '../src/catalog/jobs.js';
import { ConflictError } from '../src/errors.js';
import { DIALECTS, freshCatalog } from './helpers/catalogs.js';
import { csvOf, CSV_TRANSFORM, gzip, logRows, referenceJob } from './helpers/data.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

let s3: LocalS3;
let inlet: TestInlet;

before(async () => {
  s3 = await startLocalS3();
  inlet = await startInlet({ s3Endpoint: s3.endpoint });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
  await s3.createBucket('reruns');
});
after(async () => {
  await inlet?.stop();
  await s3?.stop();
});

const jobs = () => `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`;

async function start(name: string, url: string, settings: Record<string, unknown> = {}): Promise<string> {
  const created = await inlet.api.request('POST', jobs(), referenceJob(name, url, { settings }));
  assert.equal(created.status, 200, created.text);
  return created.body.uuid;
}

async function count(where = '1 = 1'): Promise<number> {
  const answer = await inlet.api.query(`SELECT count() FROM website.events WHERE ${where}`);
  assert.equal(answer.status, 200, answer.text);
  return Number(answer.text.trim());
}

/** Four files of 100 rows each, in days of their own, the third a gzip cut short. */
const DAYS = [1, 2, 3, 4].map((d) => Date.UTC(2021, 0, d));
const fileRows = (i: number) => csvOf(logRows(100, DAYS[i]!));

describe('retry', () => {
  test('a job failed by a corrupt gzip loads the replaced object on retry, and only that one', async () => {
    for (const i of [0, 1, 3]) await s3.put('reruns', `four/part-${i}.csv.gz`, gzip(fileRows(i)));
    const good = gzip(fileRows(2));
    await s3.put('reruns', 'four/part-2.csv.gz', good.subarray(0, good.length - 20));
    const id = await start('four files', 's3://reruns/four/', { input_aggregation: 1 });
    const failed = await inlet.api.waitForJob(id);
    assert.equal(failed.status, 'failed', JSON.stringify(failed.details));
    assert.deepEqual(failed.details.status_detail.tasks.INDEX, { DONE: 3, FAILED: 1 });
    assert.equal(await count(`timestamp >= '2021-01-01' AND timestamp < '2021-01-05'`), 300);

    await s3.put('reruns', 'four/part-2.csv.gz', good);
    const retried = await inlet.api.request('POST', `${jobs()}/${id}/retry`);
    assert.equal(retried.status, 200, retried.text);
    assert.equal(retried.body.status, 'running');
    assert.deepEqual(retried.body.details.errors, []);
    const done = await inlet.api.waitForJob(id);
    assert.equal(done.status, 'done', JSON.stringify(done.details));
    assert.deepEqual(done.details.status_detail.tasks.INDEX, { DONE: 4 });
    assert.deepEqual(done.details.rows, { read: 400, written: 400, rejected: 0 });
    assert.equal(await count(`timestamp >= '2021-01-01' AND timestamp < '2021-01-05'`), 400);
    const files = await inlet.api.request('GET', `${jobs()}/${id}/files`);
    assert.equal(files.body.length, 4);
    assert.ok(files.body.every((f: { error: string | null }) => f.error === null), files.text);

    const again = await inlet.api.request('POST', `${jobs()}/${id}/retry`);
    assert.equal(again.status, 409, again.text);
    assert.match(again.body.detail, /is done: none of its tasks failed, so there is nothing to retry/);
  });

  test('retry of an unknown job is a 404', async () => {
    const answer = await inlet.api.request('POST', `${jobs()}/00000000-0000-0000-0000-000000000000/retry`);
    assert.equal(answer.status, 404, answer.text);
  });
});

for (const dialect of DIALECTS) {
  test(`${dialect}: a job that has not ended cannot be retried, and the refusal changes nothing`, async () => {
    const { catalog, drop } = await freshCatalog(dialect);
    try {
      const { org } = await createOrgWithUser(catalog.db, 'org', 'u@x', 'x');
      const { job } = await createJob(catalog, { org_id: org.id, name: 'waiting', description: null, type: 'batch_import', settings: '{}', table_id: 't', transform_id: 'x', transform_doc: '{}', concurrency: 1 });
      await assert.rejects(retryJob(catalog, job), (err: unknown) => err instanceof ConflictError && /is ready: only a failed or canceled job can be retried/.test(err.message));
      assert.equal((await getJob(catalog, org.id, job.id)).status, 'ready');
    } finally {
      await catalog.close();
      await drop();
    }
  });
}
