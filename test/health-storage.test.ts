import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startInlet } from './helpers/inlet.js';
import { startLocalS3 } from './helpers/s3.js';

test('health: with partitions in object storage, ready checks the bucket and names it when it does not answer', async () => {
  const s3 = await startLocalS3();
  // The bucket does not exist yet: queries could read no partition.
  const inlet = await startInlet({ role: 'api', workers: '0', s3Endpoint: s3.endpoint, storageUrl: 's3://health-parts/inlet/' });
  try {
    const missing = await fetch(`${inlet.service.url}/health/ready`);
    assert.equal(missing.status, 503);
    const body = (await missing.json()) as { status: string; checks: { catalog: { ok: boolean }; storage: { ok: boolean; error: string } } };
    assert.equal(body.status, 'unavailable');
    assert.deepEqual(body.checks.catalog, { ok: true });
    assert.equal(body.checks.storage.ok, false);
    assert.match(body.checks.storage.error, /s3:\/\/health-parts\/inlet\//);

    await s3.createBucket('health-parts');
    const ready = await fetch(`${inlet.service.url}/health/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { catalog: { ok: true }, storage: { ok: true } } });
    // Live answers whatever the bucket does.
    assert.equal((await fetch(`${inlet.service.url}/health/live`)).status, 200);
  } finally {
    await inlet.stop();
    await s3.stop();
  }
});
