import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { createOrgWithUser } from '../src/catalog/accounts.js';
import { openCatalog, type Catalog } from '../src/catalog/db.js';
import { createJob } from '../src/catalog/jobs.js';
import { claimTask, renewLease } from '../src/catalog/tasks.js';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/log.js';
import { Sources } from '../src/sources/sources.js';
import { PartitionStorage } from '../src/storage/storage.js';
import { takeBackEarlierRun } from '../src/worker/takeback.js';
import { freshCatalog } from './helpers/catalogs.js';
import { csvOf, CSV_TRANSFORM, logRows, referenceJob } from './helpers/data.js';
import { ApiClient, createWebsiteEvents } from './helpers/inlet.js';
import { spawnInlet } from './helpers/process.js';
import { S3_CREDENTIALS, startLocalS3, type LocalS3 } from './helpers/s3.js';

const FILES = 12;
const ROWS_PER_FILE = 5000;
const LEASE_SECONDS = 120;
let s3: LocalS3;
const dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-takeback-'));

before(async () => {
  s3 = await startLocalS3();
  await s3.createBucket('takeback');
  for (let f = 0; f < FILES; f++) {
    await s3.put('takeback', `logs/part-${String(f).padStart(3, '0')}.csv`, csvOf(logRows(ROWS_PER_FILE, Date.UTC(2024, 4, 1), 1, f * ROWS_PER_FILE)));
  }
});
after(async () => {
  await s3?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The pids of a process's children (the worker process `inlet serve` forks). */
const childrenOf = (pid: number): number[] =>
  execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((n) => n > 0);

async function runningIndexTasks(catalog: Catalog) {
  return catalog.db.selectFrom('tasks').select(['id', 'lease_expires_at_ms', 'attempts']).where('type', '=', 'INDEX').where('state', '=', 'RUNNING').execute();
}

test('a restart on the same data dir takes back the tasks its killed run held at once, not when their leases run out', async () => {
  const env = {
    ...S3_CREDENTIALS,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    INLET_DATA_DIR: dataDir,
    INLET_WORKERS: '1',
    INLET_LEASE_SECONDS: String(LEASE_SECONDS),
    INLET_POLL_INTERVAL_MS: '50',
    INLET_STATUS_CACHE_MS: '0',
    INLET_DUCKDB_THREADS: '1',
  };
  let inlet = await spawnInlet(env);
  let api = new ApiClient(inlet.url);
  await api.login();
  await createWebsiteEvents(api, [CSV_TRANSFORM]);
  const created = await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch`, referenceJob('taken back', 's3://takeback/logs/', { settings: { input_aggregation: 1, input_concurrency: 1 } }));
  assert.equal(created.status, 200, created.text);
  const jobId: string = created.body.uuid;

  const catalog = await openCatalog(`sqlite://${path.join(dataDir, 'catalog.sqlite')}`);
  try {
    // Killed while it holds an INDEX task (with a lease of two minutes), as an OOM kill would.
    let held: Awaited<ReturnType<typeof runningIndexTasks>> = [];
    for (let i = 0; i < 3000 && held.length === 0; i++) {
      held = await runningIndexTasks(catalog);
      if (held.length === 0) await delay(5);
    }
    assert.equal(held.length, 1, 'the first run never held an INDEX task');
    for (const pid of [inlet.child.pid!, ...childrenOf(inlet.child.pid!)]) process.kill(pid, 'SIGKILL');
    await inlet.exited;
    const [orphan] = await runningIndexTasks(catalog);
    assert.ok(orphan, 'the killed run left its task RUNNING');
    assert.ok(Number(orphan.lease_expires_at_ms) - Date.now() > (LEASE_SECONDS - 20) * 1000, 'its lease has most of its two minutes left');

    const restartedAt = Date.now();
    inlet = await spawnInlet(env);
    try {
      api = new ApiClient(inlet.url);
      await api.login();
      // Far less than the lease: the task did not wait for it to run out.
      const done = await api.waitForJob(jobId, undefined, 60_000);
      const tookMs = Date.now() - restartedAt;
      assert.equal(done.status, 'done', JSON.stringify(done.details));
      assert.deepEqual(done.details.rows, { read: FILES * ROWS_PER_FILE, written: FILES * ROWS_PER_FILE, rejected: 0 });
      assert.ok(tookMs < (LEASE_SECONDS / 2) * 1000, `the job took ${tookMs} ms after the restart`);
      const retaken = await catalog.db.selectFrom('tasks').select(['state', 'attempts']).where('id', '=', orphan.id).executeTakeFirstOrThrow();
      assert.deepEqual(retaken, { state: 'DONE', attempts: orphan.attempts + 1 });
      const counted = await api.query('SELECT count(), count(DISTINCT bytes) FROM website.events');
      assert.equal(counted.text, `${FILES * ROWS_PER_FILE}\t${FILES * ROWS_PER_FILE}\n`, 'every row exactly once');
    } finally {
      inlet.child.kill('SIGTERM');
      await inlet.exited;
    }
  } finally {
    await catalog.close();
  }
});

test("taking back leaves leases that are still renewed, and other workers' leases, alone", async () => {
  const { catalog, drop } = await freshCatalog('sqlite');
  const live = new AbortController();
  try {
    const { org } = await createOrgWithUser(catalog.db, 'org', 'u@x', 'x');
    const job = (name: string) => createJob(catalog, { org_id: org.id, name, description: null, type: 'batch_import', settings: '{}', table_id: 't', transform_id: 'x', transform_doc: '{}', concurrency: 1 });
    for (const name of ['dead', 'live', 'other']) await job(name);
    const lease = (owner: string) => ({ owner, durationMs: 60_000 });
    const dead = await claimTask(catalog, lease('me/killed-run'));
    const alive = await claimTask(catalog, lease('me/live-run'));
    const other = await claimTask(catalog, lease('someone-else/run'));
    // A live process on the same data dir keeps renewing its lease, as every worker does each second.
    const renewing = (async () => {
      while (!live.signal.aborted) {
        await renewLease(catalog, alive!, lease('me/live-run'));
        await delay(300);
      }
    })();
    const config = loadConfig({}, { dataDir: tmpdir() });
    const ctx = { catalog, config, sources: new Sources(config), storage: new PartitionStorage(config, catalog), log: createLogger('silent') };
    let nudged = 0;
    await takeBackEarlierRun(ctx, lease('me/this-run'), 'me/', new AbortController().signal, () => nudged++);
    live.abort();
    await renewing;
    const leases = await catalog.db.selectFrom('tasks').select(['id', 'state', 'lease_expires_at_ms']).execute();
    const expiry = (id: string) => Number(leases.find((l) => l.id === id)!.lease_expires_at_ms);
    assert.equal(leases.find((l) => l.id === dead!.id)!.state, 'READY', 'the silent earlier run lost its task');
    assert.ok(expiry(alive!.id) > Date.now() + 30_000, 'the renewed lease was left alone');
    assert.ok(expiry(other!.id) > Date.now() + 30_000, "another worker's lease was left alone");
    assert.equal(nudged, 1);
  } finally {
    await catalog.close();
    await drop();
  }
});
