import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { openCatalog } from '../src/catalog/db.js';
import type { RawSettings } from '../src/config/config.js';
import { csvOf, CSV_TRANSFORM, logRows, referenceJob } from './helpers/data.js';
import { ApiClient, createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { spawnInlet } from './helpers/process.js';
import { S3_CREDENTIALS, startLocalS3, type LocalS3 } from './helpers/s3.js';

const FILES = 24;
const ROWS_PER_FILE = 5000;
let s3: LocalS3;

before(async () => {
  s3 = await startLocalS3();
  await s3.createBucket('lifecycle');
  // One file per INDEX task (input_aggregation 1) and one task at a time: a job that takes a while.
  for (let f = 0; f < FILES; f++) {
    await s3.put('lifecycle', `logs/part-${String(f).padStart(3, '0')}.csv`, csvOf(logRows(ROWS_PER_FILE, Date.UTC(2024, 4, 1), 1, f * ROWS_PER_FILE)));
  }
});
after(async () => s3?.stop());

const slowJob = (name: string) => referenceJob(name, 's3://lifecycle/logs/', { settings: { input_aggregation: 1, input_concurrency: 1 } });
const indexDone = (job: any) => job.details.status_detail.tasks.INDEX?.DONE ?? 0;

/** An Inlet of its own for one describe block (one worker), with website.events; the block counts its whole table. */
function ownInlet(settings: RawSettings = {}): () => TestInlet {
  let inlet: TestInlet;
  before(async () => {
    inlet = await startInlet({ s3Endpoint: s3.endpoint, workers: '1', ...settings });
    await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
  });
  after(async () => inlet?.stop());
  return () => inlet;
}

describe('cancel', () => {
  const inlet = ownInlet();

  test('a running job stops within seconds, and nothing more is committed', async () => {
    const { api } = inlet();
    const created = await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch`, slowJob('to cancel'));
    assert.equal(created.status, 200, created.text);
    // Wait until some INDEX work is done, so the cancel lands mid-job.
    // A loaded machine may take a while to list: wait for real progress, not a fixed few seconds.
    for (let i = 0; i < 1500; i++) {
      const [job] = (await api.request('GET', `/config/v1/orgs/${api.orgId}/jobs/batch/${created.body.uuid}/status`)).body;
      if (indexDone(job) >= 2) break;
      await delay(20);
    }
    const canceledAt = Date.now();
    const canceled = await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch/${created.body.uuid}/cancel`);
    assert.equal(canceled.status, 200, canceled.text);
    assert.equal(canceled.body.status, 'canceled');
    const tasks = canceled.body.details.status_detail.tasks;
    assert.equal(tasks.INDEX.READY, undefined);
    assert.equal(tasks.INDEX.RUNNING, undefined);
    assert.ok(tasks.INDEX.CANCELED > 0);
    // Status views are cached for pollers, but a cancel made here shows at once.
    const [right] = (await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch/${created.body.uuid}/status`)).body;
    assert.equal(right.status, 'canceled');

    // The worker notices within a lease beat; wait past that and check nothing more appeared.
    await delay(2500);
    const [after] = (await api.request('GET', `/config/v1/orgs/${api.orgId}/jobs/batch/${created.body.uuid}/status`)).body;
    assert.equal(after.status, 'canceled');
    const done = indexDone(after);
    assert.ok(done < FILES, `${done} of ${FILES} tasks done: the cancel came too late to test anything`);
    const count = Number((await api.query('SELECT count() FROM website.events')).text);
    assert.equal(count, done * ROWS_PER_FILE, 'only the tasks that finished before the cancel are loaded');
    assert.equal(after.details.rows.written, count);
    assert.ok(Date.now() - canceledAt < 10_000);

    const again = await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch/${created.body.uuid}/cancel`);
    assert.equal(again.status, 409);
  });
});

describe('status', () => {
  // Reused for seconds, so a commit that shows within one second was shown by the worker's notice.
  const inlet = ownInlet({ statusCacheMs: '5000' });

  test('pollers see a task the worker process committed at once, not when the cached view expires', async () => {
    const { api, service } = inlet();
    const created = await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch`, slowJob('watched'));
    assert.equal(created.status, 200, created.text);
    const jobId: string = created.body.uuid;
    // When each INDEX commit was first seen in the catalog, and how long the status took to show it.
    const committedAt: number[] = [];
    const lags: number[] = [];
    // Until the job ends: on a loaded machine its tasks take longer, and the lags are what is measured.
    for (const deadline = Date.now() + 150_000; Date.now() < deadline;) {
      const row = await service.catalog.db
        .selectFrom('tasks')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('job_id', '=', jobId)
        .where('type', '=', 'INDEX')
        .where('state', '=', 'DONE')
        .executeTakeFirstOrThrow();
      while (committedAt.length < Number(row.n)) committedAt.push(performance.now());
      // Polled every few milliseconds, the cached view never expires on its own for long.
      const [job] = (await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch/${jobId}/status`)).body;
      while (lags.length < Math.min(indexDone(job), committedAt.length)) lags.push(performance.now() - committedAt[lags.length]!);
      // The last commit may land between the count above and this status: count it on the next turn.
      if (job.status === 'done' && lags.length === FILES) break;
      await delay(5);
    }
    assert.equal(lags.length, FILES);
    // Without the worker's notice a commit shows when the view is next recomputed, 0-5000 ms later.
    const median = [...lags].sort((a, b) => a - b)[Math.floor(lags.length / 2)]!;
    assert.ok(median < 1000, `a commit took a median ${median.toFixed(0)} ms to show in the status (${lags.map((l) => l.toFixed(0)).join(', ')})`);
  });
});

describe('restart', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-restart-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('a job survives a killed process and a SIGTERM, and ends with exact counts', async () => {
    const env = {
      ...S3_CREDENTIALS,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      INLET_DATA_DIR: dataDir,
      INLET_WORKERS: '1',
      INLET_LEASE_SECONDS: '2',
      INLET_POLL_INTERVAL_MS: '50',
      INLET_DUCKDB_THREADS: '1',
      // Files of attempts cut short are swept once this old: at once here, so the last check can see it.
      INLET_SWEEP_GRACE_SECONDS: '0',
    };
    let inlet = await spawnInlet(env);
    let api = new ApiClient(inlet.url);
    await api.login();
    await createWebsiteEvents(api, [CSV_TRANSFORM]);
    const created = await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch`, slowJob('survivor'));
    const jobId = created.body.uuid;

    // 1. SIGKILL mid-job: the running task's lease expires and the task runs again elsewhere.
    for (let i = 0; i < 500; i++) {
      const [job] = (await api.request('GET', `/config/v1/orgs/${api.orgId}/jobs/batch/${jobId}/status`)).body;
      if (indexDone(job) >= 3) break;
      await delay(10);
    }
    inlet.child.kill('SIGKILL');
    await inlet.exited;

    inlet = await spawnInlet(env);
    api = new ApiClient(inlet.url);
    await api.login();
    for (let i = 0; i < 1000; i++) {
      const [job] = (await api.request('GET', `/config/v1/orgs/${api.orgId}/jobs/batch/${jobId}/status`)).body;
      if (indexDone(job) >= 8) break;
      await delay(10);
    }

    // 2. SIGTERM mid-job: the process hands its task back and exits cleanly.
    inlet.child.kill('SIGTERM');
    assert.equal(await inlet.exited, 0);

    inlet = await spawnInlet(env);
    api = new ApiClient(inlet.url);
    await api.login();
    const done = await api.waitForJob(jobId, undefined, 120_000);
    try {
      assert.equal(done.status, 'done', JSON.stringify(done.details));
      assert.deepEqual(done.details.status_detail.tasks, { LIST: { DONE: 1 }, INDEX: { DONE: FILES } });
      assert.deepEqual(done.details.rows, { read: FILES * ROWS_PER_FILE, written: FILES * ROWS_PER_FILE, rejected: 0 });
      const counted = await api.query('SELECT count(), count(DISTINCT bytes) FROM website.events');
      assert.equal(counted.text, `${FILES * ROWS_PER_FILE}\t${FILES * ROWS_PER_FILE}\n`, 'every row exactly once');
    } finally {
      inlet.child.kill('SIGTERM');
      await inlet.exited;
    }
    // Attempts cut short left no stray files: what is on disk is exactly what the catalog committed.
    const catalog = await openCatalog(`sqlite://${path.join(dataDir, 'catalog.sqlite')}`);
    const committed = (await catalog.db.selectFrom('partitions').select('path').execute()).map((p) => p.path).sort();
    await catalog.close();
    const root = path.join(dataDir, 'partitions');
    const onDisk = readdirSync(root, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.parquet'))
      .sort();
    assert.deepEqual(onDisk, committed);
  });
});
