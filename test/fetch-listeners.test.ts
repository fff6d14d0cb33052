import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { csvOf, CSV_TRANSFORM, gzip, logRows, referenceJob } from './helpers/data.js';
import { ApiClient, createWebsiteEvents } from './helpers/inlet.js';
import { spawnInlet } from './helpers/process.js';
import { S3_CREDENTIALS, startLocalS3, type LocalS3 } from './helpers/s3.js';

const FILES = 30;
let s3: LocalS3;

before(async () => {
  s3 = await startLocalS3();
  await s3.createBucket('many');
  for (let f = 0; f < FILES; f++) {
    const rows = csvOf(logRows(20, Date.UTC(2024, 5, 1), 1, f * 20));
    // Plain and gzip objects take the two streamed paths through fetch.
    await s3.put('many', `logs/part-${String(f).padStart(2, '0')}.csv${f % 2 ? '.gz' : ''}`, f % 2 ? gzip(rows) : rows);
  }
});
after(async () => s3?.stop());

test('a job of 30 objects in one task leaves no abort listeners behind: no MaxListenersExceededWarning on stderr', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-listeners-'));
  const inlet = await spawnInlet({ ...S3_CREDENTIALS, INLET_DATA_DIR: dataDir, AWS_ENDPOINT_URL_S3: s3.endpoint, INLET_WORKERS: '1', INLET_POLL_INTERVAL_MS: '50' });
  let stderr = '';
  inlet.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    const api = new ApiClient(inlet.url);
    await api.login();
    await createWebsiteEvents(api, [CSV_TRANSFORM]);
    // Two jobs: listeners that outlive their object pile up across jobs on a long-lived signal too.
    for (const name of ['first', 'second']) {
      const created = await api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch`, referenceJob(name, 's3://many/logs/', { settings: { force: true } }));
      assert.equal(created.status, 200, created.text);
      const done = await api.waitForJob(created.body.uuid, undefined, 120_000);
      assert.equal(done.status, 'done', JSON.stringify(done.details));
      assert.equal(done.details.rows.written, FILES * 20);
    }
  } finally {
    inlet.child.kill('SIGTERM');
    await inlet.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
  assert.doesNotMatch(stderr, /MaxListenersExceededWarning/);
  assert.doesNotMatch(stderr, /Warning/);
});
