import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { createOrgWithUser } from '../src/catalog/accounts.js';
import { createJob } from '../src/catalog/jobs.js';
import { claimTask } from '../src/catalog/tasks.js';
import { freshCatalog } from './helpers/catalogs.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLOCK_AHEAD = path.join(ROOT, 'test/fixtures/process/clock-ahead.mjs');

/** `inlet serve --role worker` on a shared catalog, its Date.now a minute ahead; resolves once it is ready. */
async function startSkewedWorker(databaseUrl: string, dataDir: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${CLOCK_AHEAD}`.trim(),
      INLET_ROLE: 'worker',
      INLET_DATABASE_URL: databaseUrl,
      INLET_DATA_DIR: dataDir,
      INLET_WORKERS: '1',
      INLET_LEASE_SECONDS: '30',
      INLET_POLL_INTERVAL_MS: '50',
      INLET_DUCKDB_THREADS: '1',
      INLET_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let log = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (/"role":"worker".*ready/.test(log)) resolve();
    });
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    void exited.then((code) => reject(new Error(`the worker exited with ${code} before it was ready:\n${log}`)));
  });
  return {
    log: () => log,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

test('postgres: a worker process whose clock runs a minute ahead takes no live task from another worker', async () => {
  const { catalog, url, drop } = await freshCatalog('postgres');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-skewed-'));
  try {
    const { org } = await createOrgWithUser(catalog.db, 'org', 'u@x', 'x');
    const job = (name: string) => createJob(catalog, { org_id: org.id, name, description: null, type: 'batch_import', settings: '{}', table_id: 't', transform_id: 'x', transform_doc: '{}', concurrency: 1 });
    const { job: held } = await job('held by a live worker');
    // A live worker holds this job's task, its lease 30 s long by the right clock.
    const live = await claimTask(catalog, { owner: 'live-worker', durationMs: 30_000 });
    assert.equal(live?.job_id, held.id);
    const { job: free } = await job('free for anyone');

    const worker = await startSkewedWorker(url, dataDir);
    try {
      // The skewed worker does take the free task: it claims, so it had every chance to take the held one.
      let freeTask;
      for (let i = 0; i < 200; i++) {
        freeTask = await catalog.db.selectFrom('tasks').select(['attempts', 'lease_owner']).where('job_id', '=', free.id).executeTakeFirstOrThrow();
        if (freeTask.attempts > 0) break;
        await delay(50);
      }
      assert.ok(freeTask!.attempts > 0, `the skewed worker never claimed the free task:\n${worker.log()}`);
      // Several of its polls and reaper turns later, the live task is still the live worker's.
      await delay(3000);
      const after = await catalog.db.selectFrom('tasks').select(['state', 'lease_owner', 'attempts']).where('id', '=', live!.id).executeTakeFirstOrThrow();
      assert.deepEqual(after, { state: 'RUNNING', lease_owner: 'live-worker', attempts: 1 });
    } finally {
      await worker.stop();
    }
  } finally {
    await catalog.close();
    await drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
