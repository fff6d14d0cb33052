import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createOrgWithUser } from '../src/catalog/accounts.js';
import { openCatalog, type Catalog } from '../src/catalog/db.js';
import { createJob } from '../src/catalog/jobs.js';
import { claimTask, completeIndexTask, renewLease } from '../src/catalog/tasks.js';
import { LeaseLostError } from '../src/errors.js';
import { DIALECTS, dropSchema, freshCatalog, POSTGRES_URL } from './helpers/catalogs.js';
import { csvOf, CSV_TRANSFORM, logRows, referenceJob } from './helpers/data.js';
import { FaultProxy } from './helpers/fault-proxy.js';
import { ApiClient, createWebsiteEvents } from './helpers/inlet.js';
import { spawnInlet } from './helpers/process.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

for (const dialect of DIALECTS) {
  test(`${dialect}: a lease that ran out is neither renewed nor committed, even before the reaper frees its task`, async () => {
    const { catalog, drop } = await freshCatalog(dialect);
    try {
      const { org } = await createOrgWithUser(catalog.db, 'org', 'u@x', 'x');
      await createJob(catalog, { org_id: org.id, name: 'j', description: null, type: 'batch_import', settings: '{}', table_id: 't', transform_id: 'x', transform_doc: '{}', concurrency: 1 });
      const lease = { owner: 'paused-worker', durationMs: 300 };
      const task = await claimTask(catalog, lease);
      assert.ok(task);
      // Paused past its lease: no reaper ran meanwhile, so the row still names it as the owner.
      await delay(1000);
      assert.equal(await renewLease(catalog, task, lease), false, 'a renewal after the lease ran out must fail');
      await assert.rejects(completeIndexTask(catalog, task, lease.owner, [], []), LeaseLostError);
      const row = await catalog.db.selectFrom('tasks').select(['state', 'lease_owner']).where('id', '=', task.id).executeTakeFirstOrThrow();
      assert.deepEqual(row, { state: 'RUNNING', lease_owner: 'paused-worker' }, 'nothing committed; the reaper frees it');
    } finally {
      await catalog.close();
      await drop();
    }
  });
}

const FILES = 4;
const ROWS_PER_FILE = 2000;
const schema = `inlet_test_${randomBytes(6).toString('hex')}`;
const DATABASE_URL = `${POSTGRES_URL}?schema=${schema}`;
let s3: LocalS3;
let proxy: FaultProxy;
const dirs = { api: mkdtempSync(path.join(tmpdir(), 'inlet-api-')), paused: mkdtempSync(path.join(tmpdir(), 'inlet-paused-')), other: mkdtempSync(path.join(tmpdir(), 'inlet-other-')) };
const children: ChildProcess[] = [];

before(async () => {
  s3 = await startLocalS3();
  proxy = new FaultProxy(s3.endpoint);
  await proxy.start();
  await s3.createBucket('paused-input');
  await s3.createBucket('paused-parts');
  for (let f = 0; f < FILES; f++) await s3.put('paused-input', `logs/${f}.csv`, csvOf(logRows(ROWS_PER_FILE, Date.UTC(2024, 2, 1), 5, f * ROWS_PER_FILE)));
});
after(async () => {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
  await proxy?.stop();
  await s3?.stop();
  await dropSchema(schema);
  for (const dir of Object.values(dirs)) rmSync(dir, { recursive: true, force: true });
});

/** `inlet serve` on its own machine (data dir), sharing PostgreSQL and the bucket; its log is kept. */
async function start(role: 'api' | 'worker', dataDir: string, endpoint: string) {
  const inlet = await spawnInlet({
    INLET_ROLE: role,
    INLET_DATA_DIR: dataDir,
    INLET_DATABASE_URL: DATABASE_URL,
    INLET_STORAGE_URL: 's3://paused-parts/inlet/',
    AWS_ENDPOINT_URL_S3: endpoint,
    INLET_WORKERS: '1',
    INLET_DUCKDB_THREADS: '1',
    INLET_LEASE_SECONDS: '3',
    INLET_POLL_INTERVAL_MS: '50',
  });
  children.push(inlet.child);
  return inlet;
}

async function objectKeys(prefix: string): Promise<string[]> {
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: 'paused-parts', Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key!);
}

test('a worker paused past its lease (SIGSTOP, SIGCONT) while another takes its task over commits nothing', { timeout: 300_000 }, async () => {
  const api = await start('api', dirs.api, s3.endpoint);
  const client = new ApiClient(api.url);
  await client.login();
  const { tableId } = await createWebsiteEvents(client, [CSV_TRANSFORM]);
  // The paused worker reaches S3 through a proxy that stops it as its first partition upload
  // starts: it has done the whole task and is about to commit.
  const paused = await start('worker', dirs.paused, proxy.endpoint);
  let stopped = false;
  const upload = proxy.before(
    'PUT',
    /^\/paused-parts\//,
    async () => {
      paused.child.kill('SIGSTOP');
      stopped = true;
    },
    1,
  );
  const created = await client.request('POST', `/config/v1/orgs/${client.orgId}/jobs/batch`, referenceJob('paused', 's3://paused-input/logs/'));
  assert.equal(created.status, 200, created.text);
  for (let i = 0; !stopped; i++) {
    assert.ok(i < 2400, `the worker never uploaded a partition:\n${paused.log()}`);
    await delay(50);
  }
  assert.equal(upload.hits, 1);

  const catalog: Catalog = await openCatalog(DATABASE_URL);
  try {
    const identity = readFileSync(path.join(dirs.paused, 'worker-id'), 'utf8').trim();
    const held = await catalog.db.selectFrom('tasks').selectAll().where('job_id', '=', created.body.uuid).where('type', '=', 'INDEX').executeTakeFirstOrThrow();
    assert.equal(held.state, 'RUNNING');
    assert.ok(held.lease_owner?.startsWith(`${identity}/`), `the paused worker holds the INDEX task (owner ${held.lease_owner})`);

    // Another machine's worker takes the task once the lease runs out, and finishes the job.
    const other = await start('worker', dirs.other, s3.endpoint);
    const done = await client.waitForJob(created.body.uuid, undefined, 120_000);
    assert.equal(done.status, 'done', JSON.stringify(done.details));

    // The paused worker wakes up with its files uploaded, its task done by someone else.
    paused.child.kill('SIGCONT');
    for (let i = 0; !/nothing committed/.test(paused.log()); i++) {
      assert.ok(i < 1200, `the resumed worker never said it committed nothing:\n${paused.log()}`);
      await delay(50);
    }
    assert.equal(paused.child.exitCode, null, 'the resumed worker keeps running');

    const task = await catalog.db.selectFrom('tasks').select(['state', 'attempts', 'lease_owner']).where('id', '=', held.id).executeTakeFirstOrThrow();
    assert.equal(task.state, 'DONE');
    assert.equal(task.attempts, 2);
    const otherIdentity = readFileSync(path.join(dirs.other, 'worker-id'), 'utf8').trim();
    assert.ok(task.lease_owner?.startsWith(`${otherIdentity}/`), `the task was committed by the other worker (owner ${task.lease_owner})`);
    const partitions = await catalog.db.selectFrom('partitions').select('path').where('table_id', '=', tableId).execute();
    assert.ok(partitions.length > 0);
    for (const p of partitions) assert.ok(p.path.startsWith(`${tableId}/${held.id}-2/`), `only the second attempt's partitions are committed: ${p.path}`);
    const files = await catalog.db.selectFrom('task_files').select('url').where('job_id', '=', created.body.uuid).execute();
    assert.equal(files.length, FILES, 'each file is accounted for once');
    // What the paused attempt uploaded is never referenced (it removes it, or the sweeper does
    // once an upload in flight while it was stopped lands after that).
    assert.ok((await objectKeys(`inlet/${tableId}/${held.id}-2/`)).length > 0);

    const total = FILES * ROWS_PER_FILE;
    const expectedBytes = Array.from({ length: total }, (_, i) => 1000 + i).reduce((a, b) => a + b, 0);
    const answer = await client.query('SELECT count(), count(DISTINCT bytes), sum(bytes) FROM website.events');
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.text, `${total}\t${total}\t${expectedBytes}\n`, 'every input row once');

    for (const inlet of [paused, other, api]) {
      inlet.child.kill('SIGTERM');
      await inlet.exited;
    }
  } finally {
    await catalog.close();
  }
});
