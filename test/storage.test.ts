import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { loadConfig } from '../src/config/config.js';
import { QueryError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import { Sources } from '../src/sources/sources.js';
import { PartitionCache } from '../src/storage/cache.js';
import { defaultStorageId } from '../src/storage/settings.js';
import { PartitionStorage } from '../src/storage/storage.js';
import { sweepPartitions } from '../src/worker/sweep.js';
import { freshCatalog } from './helpers/catalogs.js';
import { csvOf, CSV_TRANSFORM, logRows, referenceJob } from './helpers/data.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

let s3: LocalS3;
before(async () => {
  s3 = await startLocalS3();
});
after(async () => s3?.stop());

async function keys(bucket: string, prefix = ''): Promise<string[]> {
  const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key!);
}

/** Every Parquet file below a directory, skipping one subdirectory (the query cache). */
function parquetFiles(dir: string, skip?: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => path.join(dir, name))
    .filter((file) => file.endsWith('.parquet') && !(skip && file.startsWith(skip + path.sep)) && statSync(file).isFile());
}

describe('INLET_STORAGE_URL', () => {
  test('is a local directory or s3://bucket/prefix/, and anything else is refused with the fix', () => {
    const config = (storageUrl: string) => loadConfig({}, { dataDir: '/tmp/x', storageUrl });
    assert.equal(config('').storageUrl, '/tmp/x/partitions');
    assert.equal(config('s3://my-bucket/a/b').storageUrl, 's3://my-bucket/a/b/');
    assert.equal(config('s3://my-bucket').storageUrl, 's3://my-bucket/');
    assert.throws(() => config('gs://my-bucket/'), /INLET_STORAGE_URL="gs:\/\/my-bucket\/" is not valid: use a local directory or s3:\/\/bucket\/prefix\//);
    assert.throws(() => config('s3://My_Bucket/'), /not an S3 bucket name/);
    assert.throws(() => config('s3://my-bucket/a/../b'), /may not contain "\." or "\.\." segments/);
  });
});

describe('partitions in object storage (one process)', () => {
  let inlet: TestInlet;
  before(async () => {
    await s3.createBucket('parts-one');
    await s3.createBucket('input-one');
    for (let f = 0; f < 3; f++) await s3.put('input-one', `logs/${f}.csv`, csvOf(logRows(500, Date.UTC(2024, 0, 1 + f), 60, f * 500)));
    inlet = await startInlet({ s3Endpoint: s3.endpoint, storageUrl: 's3://parts-one/inlet/' });
  });
  after(async () => inlet?.stop());

  test('a job uploads its partitions, a query reads them through the cache, a delete removes them', async () => {
    const { api } = inlet;
    const { projectId, tableId } = await createWebsiteEvents(api, [CSV_TRANSFORM]);
    const created = await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch`, referenceJob('to s3', 's3://input-one/logs/', { settings: { input_aggregation: 1 } }));
    assert.equal(created.status, 200, created.text);
    const done = await api.waitForJob(created.body.uuid);
    assert.equal(done.status, 'done', JSON.stringify(done.details));

    const rows = await inlet.service.catalog.db.selectFrom('partitions').selectAll().where('table_id', '=', tableId).execute();
    assert.ok(rows.length >= 3);
    const stored = await keys('parts-one', 'inlet/');
    for (const row of rows) {
      assert.equal(row.storage_id, defaultStorageId('s3://parts-one/inlet/', s3.endpoint));
      assert.ok(stored.includes(`inlet/${row.path}`), `${row.path} is in the bucket`);
    }
    // Nothing of the partitions stays on the worker's disk.
    assert.deepEqual(parquetFiles(inlet.dataDir, path.join(inlet.dataDir, 'cache')), []);

    // Only what pruning selected is downloaded.
    const day = await api.query("SELECT count() FROM website.events WHERE timestamp >= '2024-01-02' AND timestamp < '2024-01-03'");
    assert.equal(day.text, '500\n');
    const cached = parquetFiles(path.join(inlet.dataDir, 'cache', tableId));
    assert.ok(cached.length > 0 && cached.length < rows.length, `${cached.length} of ${rows.length} partitions downloaded for one day`);
    assert.equal((await api.query('SELECT count(), count(DISTINCT host) FROM website.events')).text, '1500\t3\n');
    assert.equal(parquetFiles(path.join(inlet.dataDir, 'cache', tableId)).length, rows.length);

    assert.equal((await api.request('DELETE', `/config/v1/orgs/${api.orgId}/projects/${projectId}/tables/${tableId}/`)).status, 204);
    assert.deepEqual(await keys('parts-one', `inlet/${tableId}/`), []);
    assert.equal(existsSync(path.join(inlet.dataDir, 'cache', tableId)), false);
  });
});

describe('the partition cache', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'inlet-cache-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  let downloads = 0;
  const item = (key: string, bytes: number) => ({
    key,
    bytes,
    fetch: async (dest: string) => {
      downloads++;
      writeFileSync(dest, Buffer.alloc(bytes));
    },
  });

  test('keeps within its bound by removing the least recently used files no query holds', async () => {
    const cache = new PartitionCache(path.join(dir, 'lru'), 300, 4);
    const a = await cache.acquire([item('t/a/1.parquet', 100), item('t/a/2.parquet', 100)]);
    a.release();
    const b = await cache.acquire([item('t/b/1.parquet', 100)]);
    b.release();
    // t/a/1 is used again: t/a/2 is now the least recently used.
    downloads = 0;
    (await cache.acquire([item('t/a/1.parquet', 100)])).release();
    assert.equal(downloads, 0, 'a cached file is not downloaded again');
    const c = await cache.acquire([item('t/c/1.parquet', 100)]);
    assert.equal(cache.bytes, 300);
    assert.equal(existsSync(path.join(dir, 'lru', 't', 'a', '2.parquet')), false, 'the least recently used file went');
    for (const kept of ['t/a/1.parquet', 't/b/1.parquet', 't/c/1.parquet']) assert.ok(existsSync(path.join(dir, 'lru', ...kept.split('/'))), kept);
    c.release();
    assert.ok(cache.bytes <= 300);
  });

  test('never removes a file a running query holds, and goes back under its bound when released', async () => {
    const cache = new PartitionCache(path.join(dir, 'pinned'), 200, 4);
    const first = await cache.acquire([item('t/x/1.parquet', 150)]);
    const second = await cache.acquire([item('t/y/1.parquet', 150)]);
    assert.ok(existsSync(first.files[0]!) && existsSync(second.files[0]!), 'both held: neither is removed');
    first.release();
    assert.equal(existsSync(first.files[0]!), false);
    assert.equal(cache.bytes, 150);
    second.release();
  });

  test('starts empty, removing only the table directories a previous run left in the directory it is given', () => {
    const cacheDir = path.join(dir, 'restart');
    const table = path.join(cacheDir, '11111111-2222-3333-4444-555555555555', 'a');
    mkdirSync(table, { recursive: true });
    writeFileSync(path.join(table, 'x.parquet'), 'x');
    writeFileSync(path.join(cacheDir, 'not-ours.txt'), 'keep me');
    new PartitionCache(cacheDir, 100, 1);
    assert.deepEqual(readdirSync(cacheDir), ['not-ours.txt']);
  });

  test('refuses a query needing more than the bound, with the fix; a failed download leaves nothing behind', async () => {
    const cache = new PartitionCache(path.join(dir, 'small'), 100, 4);
    await assert.rejects(cache.acquire([item('t/z/1.parquet', 60), item('t/z/2.parquet', 60)]), (err: unknown) => err instanceof QueryError && /raise INLET_CACHE_BYTES/.test(err.message));
    await assert.rejects(cache.acquire([{ key: 't/z/3.parquet', bytes: 10, fetch: async () => Promise.reject(new Error('connection reset')) }]), /connection reset/);
    assert.equal(cache.bytes, 0);
    await assert.rejects(cache.acquire([item('t/../../etc/passwd', 1)]), /not a plain relative path/);
  });
});

describe('the partition sweeper', () => {
  test('removes uncommitted attempts from object storage only after the grace period, and never committed ones', async () => {
    await s3.createBucket('sweep-grace');
    const { catalog, drop } = await freshCatalog('postgres');
    const dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-sweep-'));
    const config = loadConfig({}, { dataDir, storageUrl: 's3://sweep-grace/p/', s3Endpoint: s3.endpoint, s3ForcePathStyle: 'true' });
    const storage = new PartitionStorage(config, catalog);
    try {
      await storage.prepare();
      const table = '11111111-1111-1111-1111-111111111111';
      const committed = '22222222-2222-2222-2222-222222222222-1';
      const orphan = '33333333-3333-3333-3333-333333333333-2';
      for (const attempt of [committed, orphan]) await s3.put('sweep-grace', `p/${table}/${attempt}/chunk-0/data_0.parquet`, 'x');
      await catalog.db
        .insertInto('partitions')
        .values({ id: 'p1', table_id: table, job_id: 'j', task_id: 't', path: `${table}/${committed}/chunk-0/data_0.parquet`, storage_id: storage.defaultId, min_ts_ms: 0, max_ts_ms: 0, rows: 1, bytes: 1, created: '' })
        .execute();
      const ctx = { catalog, config, storage, sources: new Sources(config), log: createLogger('silent') };

      assert.equal(await sweepPartitions(ctx, 3_600_000), 0, 'young orphans are left to the worker that may still be writing them');
      assert.equal((await keys('sweep-grace', 'p/')).length, 2);
      // A storage that cannot be listed (its bucket is gone) does not keep the others from being swept.
      await catalog.db
        .insertInto('storages')
        .values({ id: 'gone', org_id: null, name: 'gone', description: null, settings: JSON.stringify({ bucket_name: 'no-such-bucket', bucket_path: '', endpoint: s3.endpoint }), created: '', modified: '' })
        .execute();
      assert.equal(await sweepPartitions(ctx, 3_600_000, Date.now() + 3_600_001), 1);
      assert.deepEqual(await keys('sweep-grace', 'p/'), [`p/${table}/${committed}/chunk-0/data_0.parquet`]);
    } finally {
      storage.close();
      await catalog.close();
      await drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the Storages API and a table choosing its storage', () => {
  let inlet: TestInlet;
  before(async () => {
    await s3.createBucket('table-store');
    await s3.createBucket('input-map');
    for (let f = 0; f < 2; f++) await s3.put('input-map', `logs/${f}.csv`, csvOf(logRows(300, Date.UTC(2024, 0, 1 + f), 60, f * 300)));
    // The default storage stays local: only the table that chooses the bucket goes there.
    inlet = await startInlet({ s3Endpoint: s3.endpoint });
  });
  after(async () => inlet?.stop());

  test('storages are listed, created, validated, updated and deleted; the default one is listed first and fixed', async () => {
    const { api } = inlet;
    const base = `/config/v1/orgs/${api.orgId}/storages/`;
    const listed = await api.request('GET', base);
    assert.equal(listed.status, 200);
    assert.equal(listed.body.length, 1);
    assert.equal(listed.body[0].is_default, true);
    assert.equal(listed.body[0].settings.cloud, 'local');
    const defaultId = listed.body[0].uuid;
    assert.equal((await api.request('PATCH', `${base}${defaultId}/`, { name: 'x' })).status, 409);
    assert.equal((await api.request('DELETE', `${base}${defaultId}/`)).status, 409);

    const bad = await api.request('POST', base, { name: 'bad', settings: { bucket_name: 'Not_A_Bucket' } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.detail, /settings\.bucket_name is "Not_A_Bucket": give an S3 bucket name/);
    // Requests would carry the processes' credentials: only AWS or the operator's endpoint.
    for (const endpoint of ['file:///etc', 'http://169.254.169.254', 'https://amazonaws.com.evil.example']) {
      const badEndpoint = await api.request('POST', base, { name: 'bad', settings: { bucket_name: 'table-store', endpoint } });
      assert.equal(badEndpoint.status, 400);
      assert.match(badEndpoint.body.detail, /settings\.endpoint is ".*": storages are reached with the processes' own credentials/);
    }
    assert.equal((await api.request('POST', base, { name: 'aws', settings: { bucket_name: 'table-store', endpoint: 'https://s3.eu-west-1.amazonaws.com' } })).status, 201);

    const created = await api.request('POST', base, { name: 'archive', settings: { bucket_name: 'table-store', bucket_path: 'x', region: 'us-east-1', cloud: 'aws', endpoint: s3.endpoint } });
    assert.equal(created.status, 201, created.text);
    assert.equal((await api.request('POST', base, { name: 'archive', settings: { bucket_name: 'table-store' } })).status, 409);
    const renamed = await api.request('PATCH', `${base}${created.body.uuid}/`, { description: 'cold data' });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal(renamed.body.settings.bucket_path, 'x');
    assert.equal((await api.request('GET', `${base}${created.body.uuid}`)).body.description, 'cold data');
    assert.deepEqual(
      (await api.request('GET', base)).body.map((s: { name: string }) => s.name),
      ['default', 'aws', 'archive'],
    );
    const scratch = await api.request('POST', base, { name: 'scratch', settings: { bucket_name: 'table-store', bucket_path: 'y' } });
    assert.equal((await api.request('DELETE', `${base}${scratch.body.uuid}/`)).status, 204);
    assert.equal((await api.request('GET', `${base}${scratch.body.uuid}/`)).status, 404);
  });

  test("a table's storage_map.default_storage_id must be a storage of the org, and its partitions go there", async () => {
    const { api } = inlet;
    const storages = (await api.request('GET', `/config/v1/orgs/${api.orgId}/storages/`)).body;
    const archive = storages.find((s: { name: string }) => s.name === 'archive').uuid;
    const project = await api.request('POST', `/config/v1/orgs/${api.orgId}/projects/`, { name: 'website' });
    const tablesUrl = `/config/v1/orgs/${api.orgId}/projects/${project.body.uuid}/tables/`;
    const unknown = await api.request('POST', tablesUrl, { name: 'events', settings: { storage_map: { default_storage_id: '00000000-0000-0000-0000-000000000000' } } });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.detail, /default_storage_id is "00000000-0000-0000-0000-000000000000", which is no storage of this org/);
    const table = await api.request('POST', tablesUrl, { name: 'events', settings: { storage_map: { default_storage_id: archive } } });
    assert.equal(table.status, 201, table.text);
    const tableId = table.body.uuid;
    assert.equal((await api.request('POST', `${tablesUrl}${tableId}/transforms/`, CSV_TRANSFORM)).status, 201);

    const created = await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch`, referenceJob('to archive', 's3://input-map/logs/', { settings: { input_aggregation: 1 } }));
    const done = await api.waitForJob(created.body.uuid);
    assert.equal(done.status, 'done', JSON.stringify(done.details));
    const rows = await inlet.service.catalog.db.selectFrom('partitions').selectAll().where('table_id', '=', tableId).execute();
    assert.ok(rows.length > 0 && rows.every((r) => r.storage_id === archive));
    assert.ok((await keys('table-store', `x/${tableId}/`)).length >= rows.length);
    assert.deepEqual(parquetFiles(path.join(inlet.dataDir, 'partitions')), []);
    assert.equal((await api.query('SELECT count() FROM website.events')).text, '600\n');

    // One query over a table in the bucket and one on the local default: each read where its sandbox allows.
    const other = await api.request('POST', tablesUrl, { name: 'other' });
    assert.equal((await api.request('POST', `${tablesUrl}${other.body.uuid}/transforms/`, CSV_TRANSFORM)).status, 201);
    const job = referenceJob('local', 's3://input-map/logs/');
    (job.settings.source as { table: string }).table = 'website.other';
    const localDone = await api.waitForJob((await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch`, job)).body.uuid);
    assert.equal(localDone.status, 'done', JSON.stringify(localDone.details));
    const both = await api.query('SELECT (SELECT count() FROM website.events) AS archived, (SELECT count() FROM website.other) AS local');
    assert.equal(both.text, '600\t600\n', both.text);

    const inUse = await api.request('DELETE', `/config/v1/orgs/${api.orgId}/storages/${archive}/`);
    assert.equal(inUse.status, 409);
    assert.match(inUse.body.detail, /is the storage of tables events/);
    assert.equal((await api.request('DELETE', `${tablesUrl}${tableId}/`)).status, 204);
    assert.deepEqual(await keys('table-store', `x/${tableId}/`), []);
    assert.equal((await api.request('DELETE', `/config/v1/orgs/${api.orgId}/storages/${archive}/`)).status, 204);
  });
});
