import { cpus } from 'node:os';
import type { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { mapLimit } from '../../src/map-limit.js';
import { createS3Client } from '../../src/sources/s3-source.js';

/**
 * GETs Inlet's INDEX tasks keep in flight: a worker slot per core (`INLET_WORKERS`' default) times
 * each task's download parallelism (FETCH_PARALLELISM in src/worker/index-task.ts).
 */
export const INLET_FETCHES_IN_FLIGHT = cpus().length * 16;

/**
 * The fetch floor: GETs every object with Inlet's own S3 client settings and concurrency, reads
 * each body to its end and does nothing with it. No ingest of these objects can be faster than
 * this on the same S3 server, so it is the honest yardstick for many small objects.
 */
export async function fetchFloor(endpoint: string, bucket: string, keys: readonly string[], concurrency = INLET_FETCHES_IN_FLIGHT): Promise<{ seconds: number; bytes: number }> {
  const client = createS3Client({ s3Endpoint: endpoint, s3Region: process.env.AWS_REGION ?? 'us-east-1', s3ForcePathStyle: undefined });
  try {
    const start = performance.now();
    let bytes = 0;
    const outcomes = await mapLimit(keys, concurrency, async (key) => {
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      for await (const chunk of object.Body as Readable) bytes += (chunk as Buffer).length;
    });
    const failed = outcomes.find((o) => o.status === 'rejected');
    if (failed) throw new Error(`fetch floor: a GET failed: ${String(failed.reason)}`);
    return { seconds: (performance.now() - start) / 1000, bytes };
  } finally {
    client.destroy();
  }
}
