import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { dropSchema, POSTGRES_URL } from './helpers/catalogs.js';
import { csvOf, CSV_TRANSFORM, logRows, referenceJob } from './helpers/data.js';
import { ApiClient, createWebsiteEvents } from './helpers/inlet.js';
import { spawnInlet } from './helpers/process.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

const FILES = 40;
const ROWS_PER_FILE = 2000;
const schema = `inlet_test_${randomBytes(6).toString('hex')}`;
let s3: LocalS3;
const dirs: Record<'api' | 'workerA' | 'workerB', string> = {
  api: mkdtempSync(path.join(tmpdir(), 'inlet-api-')),
  workerA: mkdtempSync(path.join(tmpdir(), 'inlet-worker-a-')),
  workerB: mkdtempSync(path.join(tmpdir(), 'inlet-worker-b-')),
};
const children: ChildProcess[] = [];

before(async () => {
  s3 = await startLocalS3();
  await s3.createBucket('cluster-input');
  await s3.createBucket('cluster-parts');
  for (let f = 0; f < FILES; f++) {
    await s3.put('cluster-input', `logs/${String(f).padStart(2, '0')}.csv`, csvOf(logRows(ROWS_PER_FILE, Date.UTC(2024, 2, 1), 5, f * ROWS_PER_FILE)));
  }
});
after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await s3?.stop();
  await dropSchema(schema);
  for (const dir of Object.values(dirs)) rmSync(dir, { recursive: true, force: true });
});

/** Machines of their own: each process has its own data dir; they share PostgreSQL and the bucket. */
async function start(role: 'api' | 'worker', dataDir: string) {
  const spawned = await spawnInlet({
    INLET_ROLE: role,
    INLET_DATA_DIR: dataDir,
    INLET_DATABASE_URL: `${POSTGRES_URL}?schema=${schema}`,
    INLET_STORAGE_URL: 's3://cluster-parts/inlet/',
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    INLET_WORKERS: '2',
    INLET_DUCKDB_THREADS: '1',
    INLET_LEASE_SECONDS: '3',
    INLET_POLL_INTERVAL_MS: '50',
    INLET_SWEEP_GRACE_SECONDS: '0',
  });
  children.push(spawned.child);
  return spawned;
}

async function stop(spawned: { child: ChildProcess; exited: Promise<number | null> }) {
  spawned.child.kill('SIGTERM');
  await spawned.exited;
}

function parquetFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.parquet') && statSync(path.join(dir, name)).isFile())
    .map((name) => path.join(dir, name));
}

async function objects(prefix: string): Promise<string[]> {
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: 'cluster-parts', Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key!);
}

test('one API and two workers on their own disks share PostgreSQL and a bucket: a worker killed mid-job loses nothing', { timeout: 300_000 }, async () => {
  const api = await start('api', dirs.api);
  const workerA = await start('worker', dirs.workerA);
  const workerB = await start('worker', dirs.workerB);
  const client = new ApiClient(api.url);
  await client.login();
  const { projectId, tableId } = await createWebsiteEvents(client, [CSV_TRANSFORM]);

  const created = await client.request('POST', `/config/v1/orgs/${client.orgId}/jobs/batch`, referenceJob('cluster', 's3://cluster-input/logs/', { settings: { input_aggregation: 1, input_concurrency: 4 } }));
  assert.equal(created.status, 200, created.text);
  for (let i = 0; ; i++) {
    const [job] = (await client.request('POST', `/config/v1/orgs/${client.orgId}/jobs/batch/${created.body.uuid}/status`)).body;
    if ((job.details.status_detail.tasks.INDEX?.DONE ?? 0) >= 1) break;
    assert.ok(i < 2400, 'no INDEX task finished within two minutes');
    await delay(50);
  }
  // Each engine of a worker process spills to a folder of its own, named by the process.
  const enginesA = readdirSync(path.join(dirs.workerA, 'scratch')).filter((name) => name.startsWith('duckdb-'));
  assert.ok(enginesA.length > 0, "worker A has its engines' spill folders");
  workerA.child.kill('SIGKILL');
  await workerA.exited;

  const done = await client.waitForJob(created.body.uuid, undefined, 240_000);
  assert.equal(done.status, 'done', JSON.stringify(done.details));
  assert.equal(done.details.status_detail.tasks.INDEX.DONE, FILES);

  // The API process has no partitions of its own: it reads what the workers uploaded.
  const total = FILES * ROWS_PER_FILE;
  const expectedBytes = Array.from({ length: total }, (_, i) => 1000 + i).reduce((a, b) => a + b, 0);
  const answer = await client.query('SELECT count(), count(DISTINCT bytes), sum(bytes) FROM website.events');
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.text, `${total}\t${total}\t${expectedBytes}\n`, 'every input row once: no loss, no duplicates');

  // The killed worker's machine comes back: its start sweeps what the killed attempt left in its scratch.
  const restartedA = await start('worker', dirs.workerA);
  await stop(restartedA);
  await stop(workerB);
  for (const dir of [dirs.workerA, dirs.workerB]) assert.deepEqual(parquetFiles(dir), [], `no partition file is left in ${dir}`);
  const leftA = readdirSync(path.join(dirs.workerA, 'scratch'));
  assert.deepEqual(
    enginesA.filter((name) => leftA.includes(name)),
    [],
    "the killed process's spill folders are swept",
  );

  assert.ok((await objects(`inlet/${tableId}/`)).length > 0);
  assert.equal((await client.request('DELETE', `/config/v1/orgs/${client.orgId}/projects/${projectId}/tables/${tableId}/`)).status, 204);
  assert.deepEqual(await objects(`inlet/${tableId}/`), [], 'a table delete leaves no object of the table in the bucket');
  // Stopped, so its query sandboxes (with their own empty placeholder files) are gone too.
  await stop(api);
  assert.deepEqual(
    parquetFiles(dirs.api).filter((file) => !file.startsWith(path.join(dirs.api, 'cache') + path.sep)),
    [],
    'the API process keeps partitions only in its cache',
  );
});
