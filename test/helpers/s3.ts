import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/sources/s3-source.js';

export const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

export interface LocalS3 {
  readonly endpoint: string;
  /** s3rver's process, whose CPU the benchmarks report. */
  readonly pid: number;
  /** s3rver's storage directory: `<dir>/<bucket>/<key>._S3rver_object` (benchmarks seed it directly). */
  readonly dir: string;
  readonly client: S3Client;
  createBucket(name: string): Promise<void>;
  put(bucket: string, key: string, body: string | Buffer): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real S3-compatible server (s3rver) in a child process on a loopback port. It runs with
 * --openssl-legacy-provider because its list continuation tokens use DES (ENGINE-NOTES), and
 * --silent: a log line per request cost it CPU that the code under test shares the cores with.
 */
export async function startLocalS3(keyPair?: { accessKeyId: string; secretAccessKey: string }): Promise<LocalS3> {
  Object.assign(process.env, S3_CREDENTIALS);
  const dir = mkdtempSync(path.join(tmpdir(), 'inlet-s3-'));
  const bin = createRequire(import.meta.url).resolve('s3rver/bin/s3rver.js');
  const args = ['-d', dir, '-a', '127.0.0.1', '-p', '0', '--silent'];
  // s3rver accepts one built-in key pair (S3RVER/S3RVER): with keyPair it accepts that one instead.
  const replaceKeys = `const A = require(${JSON.stringify(path.join(path.dirname(bin), '../lib/models/account.js'))});
    A.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
    A.DUMMY_ACCOUNT.createKeyPair(process.env.INLET_S3RVER_KEY_ID, process.env.INLET_S3RVER_SECRET);
    process.argv.splice(1, 0, ${JSON.stringify(bin)});
    require(${JSON.stringify(bin)});`;
  const child: ChildProcess = spawn(process.execPath, keyPair ? ['--openssl-legacy-provider', '-e', replaceKeys, '--', ...args] : ['--openssl-legacy-provider', bin, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: keyPair ? { ...process.env, INLET_S3RVER_KEY_ID: keyPair.accessKeyId, INLET_S3RVER_SECRET: keyPair.secretAccessKey } : process.env,
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on [\d.]+:(\d+)/.exec(out);
      if (!match) return;
      // Later output (errors) is drained, not kept: the pipe must never fill and block s3rver.
      child.stdout!.off('data', onData);
      child.stdout!.resume();
      resolve(Number(match[1]));
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}: ${out}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = createS3Client({ s3Endpoint: endpoint, s3Region: 'us-east-1', s3ForcePathStyle: true }, keyPair ? { access_key_id: keyPair.accessKeyId, secret_access_key: keyPair.secretAccessKey } : undefined);
  return {
    endpoint,
    pid: child.pid!,
    dir,
    client,
    createBucket: async (name) => {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    put: async (bucket, key, body) => {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    stop: async () => {
      client.destroy();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
