import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config/config.js';
import { CSV_TRANSFORM, csvOf, logRows, referenceJob } from './helpers/data.js';
import { ADMIN, ApiClient, createWebsiteEvents, startInlet, type Response } from './helpers/inlet.js';
import { spawnInlet } from './helpers/process.js';
import { S3_CREDENTIALS, startLocalS3, type LocalS3 } from './helpers/s3.js';

/** The team's own key pair: s3rver accepts it and not the processes' AWS credentials (S3RVER). */
const TEAM_KEYS = { accessKeyId: 'TEAMAKEYID0001', secretAccessKey: `team-secret-${randomBytes(12).toString('hex')}` };

let s3: LocalS3;
let inlet: Awaited<ReturnType<typeof spawnInlet>>;
let dataDir: string;
let log = '';
const answers: string[] = [];
let api: ApiClient;

/** Every answer is kept: the secret must be in none. */
async function call(method: string, route: string, body?: unknown): Promise<Response<any>> {
  const response = await api.request(method, route, body);
  answers.push(response.text);
  return response;
}

before(async () => {
  s3 = await startLocalS3(TEAM_KEYS);
  await s3.createBucket('team-a-logs');
  await s3.put('team-a-logs', 'data/rows.csv', csvOf(logRows(25)));
  dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-credentials-'));
  inlet = await spawnInlet({
    ...S3_CREDENTIALS,
    INLET_DATA_DIR: dataDir,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    INLET_WORKERS: '1',
    INLET_POLL_INTERVAL_MS: '50',
    INLET_READ_ATTEMPTS: '1',
    INLET_LOG_LEVEL: 'debug',
    INLET_SECRET_KEY: randomBytes(32).toString('base64'),
  });
  inlet.child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  inlet.child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  api = new ApiClient(inlet.url);
  await api.login(ADMIN);
  await createWebsiteEvents(api, [CSV_TRANSFORM]);
});
after(async () => {
  inlet?.child.kill('SIGTERM');
  await inlet?.exited;
  await s3?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('credentials', () => {
  test("a job with a credential_id reads a bucket the processes' credentials cannot; the secret is in no answer, log line or catalog byte", async () => {
    const jobs = `/config/v1/orgs/${api.orgId}/jobs/batch/`;
    // Without the credential the worker reads with the processes' chain, which this bucket refuses.
    const plain = await call('POST', jobs, referenceJob('without credential', 's3://team-a-logs/data/'));
    assert.equal(plain.status, 200, plain.text);
    const refused = await api.waitForJob(plain.body.uuid);
    assert.equal(refused.status, 'failed', JSON.stringify(refused.details));
    assert.match(JSON.stringify(refused.details), /InvalidAccessKeyId|AccessDenied|403/);

    const created = await call('POST', `/config/v1/orgs/${api.orgId}/credentials/`, {
      name: 'team-a',
      settings: { access_key_id: TEAM_KEYS.accessKeyId, secret_access_key: TEAM_KEYS.secretAccessKey, region: 'us-east-1', endpoint: s3.endpoint },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.settings.secret_access_key, 'set');
    assert.equal(created.body.settings.access_key_id, 'set');
    assert.equal(created.body.settings.session_token, 'not set');
    const id = created.body.uuid;
    assert.equal((await call('GET', `/config/v1/orgs/${api.orgId}/credentials/`)).status, 200);
    assert.equal((await call('GET', `/config/v1/orgs/${api.orgId}/credentials/${id}/`)).body.name, 'team-a');

    const body = referenceJob('with credential', 's3://team-a-logs/data/');
    (body.settings.source.settings as Record<string, unknown>).credential_id = id;
    const job = await call('POST', jobs, body);
    assert.equal(job.status, 200, job.text);
    assert.equal(job.body.settings.source.settings.credential_id, id);
    const done = await api.waitForJob(job.body.uuid);
    assert.equal(done.status, 'done', JSON.stringify(done.details));
    const count = await api.query('SELECT count() FROM website.events');
    answers.push(count.text);
    assert.equal(count.text.trim(), '25');
    for (const route of [`${jobs}${job.body.uuid}/`, `${jobs}${job.body.uuid}/status`, `${jobs}${job.body.uuid}/files`, jobs]) await call('GET', route);

    const unknown = referenceJob('unknown credential', 's3://team-a-logs/data/');
    (unknown.settings.source.settings as Record<string, unknown>).credential_id = '00000000-0000-0000-0000-000000000000';
    const refusedJob = await call('POST', jobs, unknown);
    assert.equal(refusedJob.status, 400);
    assert.match(refusedJob.body.detail, /credential_id .* is not a credential of this org/);

    for (const secret of [TEAM_KEYS.secretAccessKey]) {
      assert.ok(!answers.some((text) => text.includes(secret)), 'the secret is in an API answer');
      assert.ok(!log.includes(secret), 'the secret is in a log line');
      for (const file of readdirSync(dataDir).filter((f) => f.startsWith('catalog.sqlite'))) {
        assert.ok(!readFileSync(path.join(dataDir, file)).includes(secret), `the secret is readable in ${file}`);
      }
    }
    assert.ok(!answers.some((text) => text.includes(TEAM_KEYS.accessKeyId)), 'the access key id is in an API answer');

    assert.equal((await call('DELETE', `/config/v1/orgs/${api.orgId}/credentials/${id}/`)).status, 204);
    assert.equal((await call('GET', `/config/v1/orgs/${api.orgId}/credentials/${id}/`)).status, 404);
  });

  test('a storage with a credential_id keeps partitions in a bucket only that credential can reach', async () => {
    await s3.createBucket('team-a-parts');
    const credential = await call('POST', `/config/v1/orgs/${api.orgId}/credentials/`, {
      name: 'team-a-storage',
      settings: { access_key_id: TEAM_KEYS.accessKeyId, secret_access_key: TEAM_KEYS.secretAccessKey },
    });
    assert.equal(credential.status, 201, credential.text);
    const storages = `/config/v1/orgs/${api.orgId}/storages/`;
    const unknown = await call('POST', storages, { name: 'nope', settings: { bucket_name: 'team-a-parts', endpoint: s3.endpoint, credential_id: '00000000-0000-0000-0000-000000000000' } });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.detail, /settings\.credential_id .* is not a credential of this org/);
    const storage = await call('POST', storages, { name: 'team-parts', settings: { bucket_name: 'team-a-parts', bucket_path: 'inlet', endpoint: s3.endpoint, credential_id: credential.body.uuid } });
    assert.equal(storage.status, 201, storage.text);

    const project = (await call('GET', `/config/v1/orgs/${api.orgId}/projects/`)).body.find((p: { name: string }) => p.name === 'website');
    const tables = `/config/v1/orgs/${api.orgId}/projects/${project.uuid}/tables/`;
    const table = await call('POST', tables, { name: 'archive', settings: { storage_map: { default_storage_id: storage.body.uuid } } });
    assert.equal(table.status, 201, table.text);
    assert.equal((await call('POST', `${tables}${table.body.uuid}/transforms/`, CSV_TRANSFORM)).status, 201);
    const body = referenceJob('into team storage', 's3://team-a-logs/data/');
    (body.settings.source as { table: string }).table = 'website.archive';
    (body.settings.source.settings as Record<string, unknown>).credential_id = credential.body.uuid;
    const job = await call('POST', `/config/v1/orgs/${api.orgId}/jobs/batch/`, body);
    const done = await api.waitForJob(job.body.uuid);
    assert.equal(done.status, 'done', JSON.stringify(done.details));
    const count = await api.query('SELECT count() FROM website.archive');
    assert.equal(count.text.trim(), '25', count.text);
    const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: 'team-a-parts', Prefix: `inlet/${table.body.uuid}/` }));
    assert.ok(
      (listed.Contents ?? []).some((o) => o.Key!.endsWith('.parquet')),
      'partitions are in the team bucket',
    );
    assert.ok(!answers.some((text) => text.includes(TEAM_KEYS.secretAccessKey)) && !log.includes(TEAM_KEYS.secretAccessKey));
    // The storage would lose its keys: the credential stays while a storage names it.
    const inUse = await call('DELETE', `/config/v1/orgs/${api.orgId}/credentials/${credential.body.uuid}/`);
    assert.equal(inUse.status, 409);
    assert.match(inUse.body.detail, /used by storages team-parts/);
  });

  test('a credential changed in place (new keys, PATCH or PUT) is what the next job reads with; a client may send back what it read', async () => {
    const credentials = `/config/v1/orgs/${api.orgId}/credentials/`;
    // s3rver checks the key id, not the signature: the old keys are a revoked key id.
    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    const created = await call('POST', credentials, { name: 'rotating', settings: { access_key_id: 'REVOKEDKEYID0001', secret_access_key: wrong, region: 'us-east-1', endpoint: s3.endpoint } });
    assert.equal(created.status, 201, created.text);
    const url = `${credentials}${created.body.uuid}/`;
    const runJob = async (name: string) => {
      const body = referenceJob(name, 's3://team-a-logs/data/');
      (body.settings.source.settings as Record<string, unknown>).credential_id = created.body.uuid;
      const job = await call('POST', `/config/v1/orgs/${api.orgId}/jobs/batch/`, body);
      assert.equal(job.status, 200, job.text);
      return api.waitForJob(job.body.uuid);
    };
    const refused = await runJob('with the old keys');
    assert.equal(refused.status, 'failed', JSON.stringify(refused.details));
    assert.match(JSON.stringify(refused.details), /InvalidAccessKeyId|AccessDenied|403/);

    const patched = await call('PATCH', url, { settings: { access_key_id: TEAM_KEYS.accessKeyId, secret_access_key: TEAM_KEYS.secretAccessKey } });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.body.settings, { region: 'us-east-1', endpoint: s3.endpoint, access_key_id: 'set', secret_access_key: 'set', session_token: 'not set' });
    assert.notEqual(patched.body.modified, created.body.modified);
    assert.equal((await runJob('with the new keys')).status, 'done');

    // Read, change the description, send it all back: the secrets read as "set" stay as they are.
    const read = (await call('GET', url)).body;
    const put = await call('PUT', url, { ...read, description: 'team A, rotated' });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.body.description, 'team A, rotated');
    assert.equal((await runJob('after a PUT of what was read')).status, 'done');

    // A session token belongs to its keys: new keys without one drop it.
    assert.equal((await call('PATCH', url, { settings: { session_token: 'token-1' } })).body.settings.session_token, 'set');
    const rekeyed = await call('PATCH', url, { settings: { access_key_id: TEAM_KEYS.accessKeyId, secret_access_key: TEAM_KEYS.secretAccessKey } });
    assert.equal(rekeyed.body.settings.session_token, 'not set');
    // And a PATCH of the description alone keeps the keys.
    assert.equal((await call('PATCH', url, { description: 'only this' })).body.settings.access_key_id, 'set');
    assert.equal((await runJob('after new keys')).status, 'done');

    const taken = await call('POST', credentials, { name: 'taken-name', settings: { access_key_id: 'a', secret_access_key: 'b' } });
    assert.equal(taken.status, 201);
    const clash = await call('PATCH', url, { name: 'taken-name' });
    assert.equal(clash.status, 409);
    assert.match(clash.body.detail, /already exists/);
    const placeholder = await call('POST', credentials, { name: 'placeholder', settings: { access_key_id: 'a', secret_access_key: 'set' } });
    assert.equal(placeholder.status, 400);
    assert.match(placeholder.body.detail, /settings\.secret_access_key is "set": give the secret_access_key itself/);
    const cleared = await call('PATCH', url, { settings: { secret_access_key: null } });
    assert.equal(cleared.status, 400);
    assert.match(cleared.body.detail, /settings\.secret_access_key is missing/);
    const elsewhere = await call('PUT', url, { name: 'rotating', settings: { access_key_id: 'a', secret_access_key: 'b', endpoint: 'http://169.254.169.254' } });
    assert.equal(elsewhere.status, 400);
    assert.equal((await call('PATCH', `${credentials}00000000-0000-0000-0000-000000000000/`, { name: 'x' })).status, 404);
    for (const secret of [TEAM_KEYS.secretAccessKey, wrong]) {
      assert.ok(!answers.some((text) => text.includes(secret)), 'a secret is in an API answer');
      assert.ok(!log.includes(secret), 'a secret is in a log line');
    }
  });

  test('an endpoint other than AWS or the configured one is refused', async () => {
    const response = await call('POST', `/config/v1/orgs/${api.orgId}/credentials/`, {
      name: 'elsewhere',
      settings: { access_key_id: 'a', secret_access_key: 'b', endpoint: 'http://169.254.169.254' },
    });
    assert.equal(response.status, 400);
    assert.match(response.body.detail, /settings\.endpoint/);
  });
});

describe('without INLET_SECRET_KEY', () => {
  test('credentials are refused, saying what to set', async () => {
    const plain = await startInlet({ workers: '0' });
    try {
      const response = await plain.api.request('POST', `/config/v1/orgs/${plain.api.orgId}/credentials/`, { name: 'x', settings: { access_key_id: 'a', secret_access_key: 'b' } });
      assert.equal(response.status, 501);
      assert.match(response.body.detail, /INLET_SECRET_KEY/);
    } finally {
      await plain.stop();
    }
  });

  test('a key that is not 32 bytes stops the start', () => {
    assert.throws(() => loadConfig({ INLET_SECRET_KEY: 'short' }), /INLET_SECRET_KEY is not 32 bytes/);
  });
});
