import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { openCatalog } from '../src/catalog/db.js';
import { CSV_TRANSFORM, csvOf, logRows, referenceJob } from './helpers/data.js';
import { ApiClient, createWebsiteEvents } from './helpers/inlet.js';
import { freePort, spawnInlet } from './helpers/process.js';
import { S3_CREDENTIALS, startLocalS3, type LocalS3 } from './helpers/s3.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let s3: LocalS3;

before(async () => {
  s3 = await startLocalS3();
  await s3.createBucket('processes');
  for (let f = 0; f < 4; f++) await s3.put('processes', `logs/part-${f}.csv`, csvOf(logRows(1000, Date.UTC(2024, 4, 1), 1, f * 1000)));
});
after(async () => s3?.stop());

/** The server's worker process, among the processes `pid` forked (Linux; tsx forks esbuild too). */
function workerOf(pid: number): number | undefined {
  const file = `/proc/${pid}/task/${pid}/children`;
  if (!existsSync(file)) return undefined;
  const children = readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return children.find((child) => {
    try {
      // The sources' entry under tsx, or the compiled one that `npm start` runs.
      return /(src\/worker\/child\.ts|dist\/worker\/child\.js)\0/.test(readFileSync(`/proc/${child}/cmdline`, 'utf8'));
    } catch {
      return false;
    }
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Exited but not yet reaped (its new parent may never reap it): gone for our purpose. */
const zombie = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
  } catch {
    return true;
  }
};

async function waitGone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (!alive(pid) || zombie(pid)) return true;
    await delay(100);
  }
  return false;
}

async function waitForChild(pid: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const child = workerOf(pid);
    if (child) return child;
    await delay(50);
  }
  throw new Error(`process ${pid} forked no worker process`);
}

function envFor(dataDir: string, workers: string) {
  return {
    ...S3_CREDENTIALS,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    INLET_DATA_DIR: dataDir,
    INLET_WORKERS: workers,
    INLET_LEASE_SECONDS: '2',
    INLET_POLL_INTERVAL_MS: '50',
    INLET_DUCKDB_THREADS: '1',
  };
}

describe('start-up', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-startup-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('a restart with a task waiting serves the API, and the job runs', { timeout: 120_000 }, async () => {
    // No workers: the job's LIST task stays READY in the catalog.
    let inlet = await spawnInlet(envFor(dataDir, '0'));
    let api = new ApiClient(inlet.url);
    await api.login();
    await createWebsiteEvents(api, [CSV_TRANSFORM]);
    const created = await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch`, referenceJob('waiting', 's3://processes/logs/'));
    assert.equal(created.status, 200, created.text);
    inlet.child.kill('SIGTERM');
    assert.equal(await inlet.exited, 0);

    // The worker process takes the task as soon as it starts, whatever it says to the API first.
    // Several slots: one finishes the task while the others are still starting.
    const restarted = spawnInlet(envFor(dataDir, '8'));
    const ready = await Promise.race([restarted, delay(30_000).then(() => undefined)]);
    assert.ok(ready, 'inlet did not log ready within 30 s of a restart with a task waiting');
    inlet = ready;
    try {
      const version = await fetch(`${inlet.url}/version`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(version.status, 200);
      api = new ApiClient(inlet.url);
      await api.login();
      const done = await api.waitForJob(created.body.uuid);
      assert.equal(done.status, 'done', JSON.stringify(done.details));
      assert.equal(done.details.rows.written, 4000);
    } finally {
      inlet.child.kill('SIGTERM');
      await inlet.exited;
    }
  });
});

/** A regex_filter that backtracks exponentially on KEY in a backtracking engine: an older version could store it. */
const CATASTROPHIC = '^s3://processes/(a+)+$';
const KEY = `${'a'.repeat(40)}b`;

/**
 * A stopped Inlet's catalog holding a READY job whose regex_filter was stored before it was
 * refused at creation; then Inlet started on it with one worker slot, which lists it at once.
 */
async function startOnStoredRegex(dataDir: string): Promise<{ inlet: Awaited<ReturnType<typeof spawnInlet>>; jobId: string }> {
  let inlet = await spawnInlet(envFor(dataDir, '0'));
  const api = new ApiClient(inlet.url);
  await api.login();
  if ((await api.request('GET', `/config/v1/orgs/${api.orgId}/projects/`)).body.length === 0) await createWebsiteEvents(api, [CSV_TRANSFORM]);
  const created = await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch`, referenceJob(`stored regex ${Date.now()}`, 's3://processes/'));
  assert.equal(created.status, 200, created.text);
  inlet.child.kill('SIGTERM');
  assert.equal(await inlet.exited, 0);
  const catalog = await openCatalog(`sqlite://${path.join(dataDir, 'catalog.sqlite')}`);
  try {
    const job = await catalog.db.selectFrom('jobs').select('settings').where('id', '=', created.body.uuid).executeTakeFirstOrThrow();
    const settings = { ...JSON.parse(job.settings), regex_filter: CATASTROPHIC };
    await catalog.db
      .updateTable('jobs')
      .set({ settings: JSON.stringify(settings) })
      .where('id', '=', created.body.uuid)
      .execute();
  } finally {
    await catalog.close();
  }
  inlet = await spawnInlet(envFor(dataDir, '1'));
  return { inlet, jobId: created.body.uuid };
}

describe('a worker process that fails', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-failing-worker-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  // Preloaded in the server and, through its execArgv, in the worker process, where it acts.
  const inWorker = (code: string) => `data:text/javascript,${encodeURIComponent(`if (process.env.INLET_WORKER_CONFIG) { ${code} }`)}`;
  for (const [what, code, logged] of [
    // Before the worker would be ready; the test reads the whole log, so it may also be before the API's.
    ['crashes at start', 'setTimeout(() => process.exit(3), 3000); await new Promise(() => {});', /worker process exited while starting/],
    ['never says ready', 'setInterval(() => {}, 60000); await new Promise(() => {});', undefined],
  ] as const) {
    test(`a worker process that ${what} leaves the API serving`, { timeout: 60_000 }, async () => {
      const started = spawnInlet(envFor(dataDir, '1'), ['--import', inWorker(code)]);
      const inlet = await Promise.race([started, delay(30_000).then(() => undefined)]);
      assert.ok(inlet, `inlet did not log ready within 30 s when its worker process ${what}`);
      try {
        const version = await fetch(`${inlet.url}/version`, { signal: AbortSignal.timeout(10_000) });
        assert.equal(version.status, 200);
        const api = new ApiClient(inlet.url);
        await api.login();
        assert.equal((await api.request('GET', `/config/v1/orgs/${api.orgId}/jobs/batch`)).status, 200);
        if (logged) {
          // The whole log since spawn: under load the worker can exit before the API says ready.
          for (let i = 0; i < 100 && !logged.test(inlet.log()); i++) await delay(50);
          assert.match(inlet.log(), logged);
        }
      } finally {
        inlet.child.kill('SIGTERM');
      }
      assert.equal(await inlet.exited, 0);
    });
  }
});

describe('a regex_filter stored by an older version', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-regex-'));
  before(async () => s3.put('processes', KEY, 'timestamp,host,status,bytes,latency,cached\n'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('lists in linear time: the job ends, the worker is free', { timeout: 60_000 }, async () => {
    const { inlet, jobId } = await startOnStoredRegex(dataDir);
    try {
      const api = new ApiClient(inlet.url);
      await api.login();
      // A backtracking engine takes hours on this key (40 a's); the wait only has to outlast a slow start under load.
      const done = await api.waitForJob(jobId, undefined, 40_000);
      // Only the catastrophic key is in scope and it does not match: nothing to load.
      assert.equal(done.status, 'done', JSON.stringify(done.details));
      assert.deepEqual(done.details.status_detail.tasks, { LIST: { DONE: 1 } });
    } finally {
      inlet.child.kill('SIGTERM');
      await inlet.exited;
    }
  });

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    test(`${signal} to the server leaves no worker process behind`, { timeout: 60_000 }, async () => {
      const { inlet } = await startOnStoredRegex(dataDir);
      const worker = await waitForChild(inlet.child.pid!);
      // Let the worker claim the LIST task before the server goes.
      await delay(1000);
      // Everything the worker process writes after this is its farewell.
      let output = '';
      inlet.child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      inlet.child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      inlet.child.kill(signal);
      const stoppedWithin = await Promise.race([inlet.exited.then(() => true), delay(15_000).then(() => false)]);
      assert.ok(stoppedWithin, `the server still runs 15 s after ${signal}`);
      const gone = await waitGone(worker, 10_000);
      if (!gone) process.kill(worker, 'SIGKILL');
      assert.ok(gone, `worker process ${worker} still runs 10 s after ${signal} to the server`);
      assert.doesNotMatch(output, /EPIPE|Error:|\n\s+at /, `the worker process left a stack trace:\n${output}`);
    });
  }
});

describe('a server killed while its worker reports commits', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-epipe-'));
  before(async () => {
    for (let f = 0; f < 150; f++) await s3.put('processes', `many/part-${String(f).padStart(3, '0')}.csv`, csvOf(logRows(5, Date.UTC(2024, 5, 1), 1, f * 5)));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('the worker process exits quietly, without an EPIPE stack trace', { timeout: 90_000 }, async () => {
    const inlet = await spawnInlet({ ...envFor(dataDir, '4'), INLET_STATUS_CACHE_MS: '0' });
    const api = new ApiClient(inlet.url);
    await api.login();
    await createWebsiteEvents(api, [CSV_TRANSFORM]);
    const worker = await waitForChild(inlet.child.pid!);
    let output = '';
    inlet.child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    inlet.child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // One file a task: every commit sends the API a job-changed message.
    const created = await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch`, referenceJob('many', 's3://processes/many/', { settings: { input_aggregation: 1, input_concurrency: 4 } }));
    assert.equal(created.status, 200, created.text);
    for (let i = 0; i < 600; i++) {
      const [job] = (await api.request('GET', `/config/v1/orgs/${api.orgId}/jobs/batch/${created.body.uuid}/status`)).body;
      if ((job.details.status_detail.tasks.INDEX?.DONE ?? 0) >= 10) break;
      await delay(20);
    }
    inlet.child.kill('SIGKILL');
    await inlet.exited;
    const gone = await waitGone(worker, 10_000);
    if (!gone) process.kill(worker, 'SIGKILL');
    assert.ok(gone, `worker process ${worker} still runs 10 s after SIGKILL to the server`);
    await delay(200);
    assert.doesNotMatch(output, /EPIPE|Error:|\n\s+at /, `the worker process left a stack trace:\n${output}`);
    assert.ok(output.split('\n').filter((line) => line.includes('parent process is gone') || line.includes('server process is gone')).length <= 1);
  });
});

describe('the parent watch', () => {
  test('a worker process stuck in synchronous work exits when its parent is killed', { timeout: 60_000 }, async () => {
    // A parent that forks a child which arms the watch and then never yields its event loop again.
    const script = `
      import { fork } from 'node:child_process';
      if (process.argv[2] === 'child') {
        const { exitWithParent } = await import(${JSON.stringify(path.join(ROOT, 'src/worker/parent-watch.ts'))});
        exitWithParent(process.ppid, { msg: 'parent gone' }, () => {});
        process.send('spinning');
        const until = Date.now() + 60_000;
        while (Date.now() < until) {}
      } else {
        const child = fork(process.argv[1], ['child'], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        child.on('message', () => console.log(String(child.pid)));
      }
    `;
    const dir = mkdtempSync(path.join(tmpdir(), 'inlet-spin-'));
    const file = path.join(dir, 'spin.mts');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, script));
    const parent = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    const childPid = await new Promise<number>((resolve, reject) => {
      parent.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const pid = Number(output.split('\n')[0]);
        if (output.includes('\n') && pid > 0) resolve(pid);
      });
      parent.once('exit', () => reject(new Error(`the parent exited early: ${output}`)));
    });
    try {
      parent.kill('SIGKILL');
      const gone = await waitGone(childPid, 10_000);
      if (!gone) process.kill(childPid, 'SIGKILL');
      assert.ok(gone, 'the spinning child outlived its killed parent by 10 s');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm start', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-npm-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  // On a clean clone npm start first compiles dist/ (and the console): minutes on a loaded machine.
  test('kill of the npm start process stops the server and its worker process', { timeout: 300_000 }, async () => {
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { ...process.env, ...envFor(dataDir, '1'), INLET_HOST: '127.0.0.1', INLET_PORT: String(port), INLET_ADMIN_PASSWORD: 'npm start test', INLET_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const npmExited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
    let output = '';
    const ready = await new Promise<{ pid: number }>((resolve, reject) => {
      npm.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const line = output.split('\n').find((l) => l.includes('ready at http'));
        if (line) resolve(JSON.parse(line) as { pid: number });
      });
      void npmExited.then(() => reject(new Error(`npm start exited before it was ready:\n${output}`)));
    });
    const server = ready.pid;
    const worker = await waitForChild(server);
    assert.equal((await fetch(`http://127.0.0.1:${port}/version`)).status, 200);
    npm.kill('SIGTERM');
    const serverGone = await waitGone(server, 20_000);
    const workerGone = await waitGone(worker, 5_000);
    for (const [pid, gone] of [
      [server, serverGone],
      [worker, workerGone],
    ] as const)
      if (!gone) process.kill(pid, 'SIGKILL');
    assert.ok(serverGone, `the server (pid ${server}) still runs 20 s after kill of npm start`);
    assert.ok(workerGone, `the worker process (pid ${worker}) still runs after kill of npm start`);
    await npmExited;
    assert.match(output, /"signal":"SIGTERM","msg":"stopping/);
  });
});
