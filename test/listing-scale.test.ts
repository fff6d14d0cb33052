import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { openCatalog } from '../src/catalog/db.js';
import { FileSource } from '../src/sources/file-source.js';
import { dropSchema, POSTGRES_URL } from './helpers/catalogs.js';
import { csvOf, CSV_TRANSFORM, logRows, referenceJob } from './helpers/data.js';
import { FaultProxy } from './helpers/fault-proxy.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { spawnInlet } from './helpers/process.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

async function listAll(source: FileSource, dir: string, after?: string, pageSize = 3): Promise<string[][]> {
  const pages: string[][] = [];
  for await (const page of source.list(dir, new AbortController().signal, { pageSize, ...(after ? { after } : {}) })) pages.push(page.map((o) => o.url));
  return pages;
}

test('a file:// listing resumed after any object it answered gives exactly the objects after it, in the same order', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'inlet-walk-'));
  try {
    // Names that sort differently as whole paths than as a walk ("a.txt" < "a/b" but the walk enters "a" first).
    for (const file of ['a/b', 'a/c/d', 'a.txt', 'b', 'c/e/f', 'c/e/g', 'c/h', 'd']) {
      mkdirSync(path.join(root, path.dirname(file)), { recursive: true });
      writeFileSync(path.join(root, file), file);
    }
    const source = new FileSource([root]);
    const pages = await listAll(source, root);
    assert.ok(pages.every((page) => page.length <= 3));
    const all = pages.flat();
    assert.equal(all.length, 8);
    for (const [i, url] of all.entries()) {
      const filePath = new URL(url).pathname;
      assert.deepEqual((await listAll(source, root, filePath, 1000)).flat(), all.slice(i + 1), `resumed after ${filePath}`);
    }
    assert.deepEqual(all[0], pathToFileURL(path.join(root, 'a/b')).href);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

const OBJECTS = 300;
const ROWS_PER_OBJECT = 2;
const PAGE_SIZE = 10;
const schema = `inlet_test_${randomBytes(6).toString('hex')}`;
const DATABASE_URL = `${POSTGRES_URL}?schema=${schema}`;
let s3: LocalS3;
let proxy: FaultProxy;
let api: TestInlet | undefined;
const dirs = { first: mkdtempSync(path.join(tmpdir(), 'inlet-lister-a-')), second: mkdtempSync(path.join(tmpdir(), 'inlet-lister-b-')) };
const children: ChildProcess[] = [];

before(async () => {
  s3 = await startLocalS3();
  proxy = new FaultProxy(s3.endpoint);
  await proxy.start();
  await s3.createBucket('list-input');
  for (let i = 0; i < OBJECTS; i++) {
    await s3.put('list-input', `logs/${String(i).padStart(4, '0')}.csv`, csvOf(logRows(ROWS_PER_OBJECT, Date.UTC(2024, 3, 1), 7, i * ROWS_PER_OBJECT)));
  }
});
after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await api?.stop();
  await proxy?.stop();
  await s3?.stop();
  await dropSchema(schema);
  for (const dir of Object.values(dirs)) rmSync(dir, { recursive: true, force: true });
});

/** A worker on its own machine, reaching S3 through the proxy that counts (and slows) listing requests. */
async function startWorker(dataDir: string) {
  const spawned = await spawnInlet({
    INLET_ROLE: 'worker',
    INLET_DATA_DIR: dataDir,
    INLET_DATABASE_URL: DATABASE_URL,
    AWS_ENDPOINT_URL_S3: proxy.endpoint,
    INLET_WORKERS: '2',
    INLET_DUCKDB_THREADS: '1',
    INLET_LEASE_SECONDS: '3',
    INLET_POLL_INTERVAL_MS: '50',
    INLET_LIST_PAGE_SIZE: String(PAGE_SIZE),
  });
  children.push(spawned.child);
  return spawned;
}

test('a listing in small pages runs INDEX tasks before it ends, and a worker killed mid-listing is resumed where it got to: no object lost or loaded twice', { timeout: 300_000 }, async () => {
  api = await startInlet({ role: 'api', databaseUrl: DATABASE_URL, s3Endpoint: s3.endpoint });
  await createWebsiteEvents(api.api, [CSV_TRANSFORM]);
  // Slow listing requests (only them: object reads go through untouched), as a bucket of millions of keys is.
  const listings = proxy.before('GET', /^\/list-input\/?$/, () => delay(150), Infinity);
  const first = await startWorker(dirs.first);
  const created = await api.api.request('POST', `/config/v1/orgs/${api.api.orgId}/jobs/batch`, referenceJob('paged', 's3://list-input/logs/', { settings: { input_aggregation: 1000, input_concurrency: 2 } }));
  assert.equal(created.status, 200, created.text);
  const jobId = created.body.uuid as string;

  const catalog = await openCatalog(DATABASE_URL);
  try {
    const tasks = () => catalog.db.selectFrom('tasks').select(['id', 'type', 'state', 'input', 'attempts', 'list_after']).where('job_id', '=', jobId).execute();
    // INDEX tasks finish while the LIST task still runs.
    for (let i = 0; ; i++) {
      const now = await tasks();
      const list = now.find((t) => t.type === 'LIST')!;
      if (now.some((t) => t.type === 'INDEX' && t.state === 'DONE')) {
        assert.equal(list.state, 'RUNNING', 'an INDEX task was done before the listing was');
        assert.ok(list.list_after, 'the listing keeps where it got to');
        break;
      }
      assert.ok(i < 2400, 'no INDEX task finished within two minutes');
      await delay(50);
    }
    first.child.kill('SIGKILL');
    await first.exited;
    const listedByFirst = listings.hits;
    const resumeAt = (await tasks()).find((t) => t.type === 'LIST')!.list_after!;
    assert.ok(listedByFirst < OBJECTS / PAGE_SIZE, `the first worker was killed mid-listing (${listedByFirst} pages listed)`);

    const second = await startWorker(dirs.second);
    const done = await api.api.waitForJob(jobId, undefined, 240_000);
    assert.equal(done.status, 'done', JSON.stringify(done.details));

    const final = await tasks();
    const list = final.find((t) => t.type === 'LIST')!;
    assert.equal(list.attempts, 2, 'the listing ran twice: killed, then resumed');
    // The second listing started after the resume point: fewer pages than the whole listing.
    const remainingPages = Math.ceil((OBJECTS - Number(/(\d{4})\.csv$/.exec(resumeAt)![1]) - 1) / PAGE_SIZE);
    assert.ok(listings.hits - listedByFirst <= remainingPages + 1, `the resumed listing asked for ${listings.hits - listedByFirst} pages; ${remainingPages} remained after ${resumeAt}`);

    const listed = final.filter((t) => t.type === 'INDEX').flatMap((t) => (JSON.parse(t.input) as { url: string }[]).map((f) => f.url));
    const expected = Array.from({ length: OBJECTS }, (_, i) => `s3://list-input/logs/${String(i).padStart(4, '0')}.csv`);
    assert.deepEqual([...listed].sort(), expected, 'every object in exactly one INDEX task');
    const files = await catalog.db.selectFrom('task_files').select(['url', 'rows_written']).where('job_id', '=', jobId).execute();
    assert.deepEqual(files.map((f) => f.url).sort(), expected, 'every object loaded once');
    assert.equal(
      files.reduce((sum, f) => sum + Number(f.rows_written), 0),
      OBJECTS * ROWS_PER_OBJECT,
    );
    const rows = await catalog.db
      .selectFrom('partitions')
      .select((eb) => eb.fn.sum<number>('rows').as('rows'))
      .where('job_id', '=', jobId)
      .executeTakeFirstOrThrow();
    assert.equal(Number(rows.rows), OBJECTS * ROWS_PER_OBJECT, 'the committed partitions hold every row once');

    second.child.kill('SIGTERM');
    await second.exited;
  } finally {
    await catalog.close();
  }
});
