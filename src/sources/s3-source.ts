import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { S3Credential } from '../catalog/credentials.js';
import type { Config } from '../config/config.js';
import { SourceError, TransientSourceError } from '../errors.js';
import type { ListOptions, OpenedObject, SourceObject } from './source-url.js';

/** A client with the process's AWS credential chain, or with a stored credential's keys (and its region and endpoint, when it has them). */
/** Connecting to the S3 endpoint, and silence on an open request (no byte either way), before the attempt fails. */
const S3_CONNECT_TIMEOUT_MS = 10_000;
const S3_IDLE_TIMEOUT_MS = 30_000;

/** Told of every S3 request once it ends, SDK retries included (for metrics). */
export type S3RequestObserver = (request: { operation: string; ok: boolean; attempts: number; seconds: number }) => void;

/** Reports each request to the observer from the SDK's outermost step, so one report covers all its attempts. */
function observeRequests(client: S3Client, observe: S3RequestObserver): S3Client {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const started = performance.now();
      const operation = context.commandName ?? 'unknown';
      const report = (ok: boolean, metadata: { attempts?: number } | undefined) => observe({ operation, ok, attempts: metadata?.attempts ?? 1, seconds: (performance.now() - started) / 1000 });
      try {
        const result = await next(args);
        report(true, (result.output as { $metadata?: { attempts?: number } }).$metadata);
        return result;
      } catch (err) {
        report(false, (err as { $metadata?: { attempts?: number } }).$metadata);
        throw err;
      }
    },
    { step: 'initialize', name: 'inletRequestObserver' },
  );
  return client;
}

export function createS3Client(config: Pick<Config, 's3Endpoint' | 's3Region' | 's3ForcePathStyle'>, credential?: S3Credential, observe?: S3RequestObserver): S3Client {
  // The SDK version is pinned in package-lock.json for Node 20; its "needs Node 22 from 2027" notice would print on every start.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const endpoint = credential?.endpoint ?? config.s3Endpoint;
  const client = new S3Client({
    region: credential?.region ?? config.s3Region,
    ...(endpoint ? { endpoint } : {}),
    ...(credential ? { credentials: { accessKeyId: credential.access_key_id, secretAccessKey: credential.secret_access_key, ...(credential.session_token ? { sessionToken: credential.session_token } : {}) } } : {}),
    forcePathStyle: config.s3ForcePathStyle ?? Boolean(endpoint),
    // S3-compatible servers (MinIO releases, s3rver, Ceph) reject the newer default checksums.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Without them a connection that stops sending holds its task (or query) for ever while its
    // lease keeps being renewed; timing out makes it an ordinary retryable read failure.
    requestHandler: { connectionTimeout: S3_CONNECT_TIMEOUT_MS, requestTimeout: S3_IDLE_TIMEOUT_MS },
  });
  return observe ? observeRequests(client, observe) : client;
}

const NOT_RETRYABLE = new Set(['NoSuchBucket', 'NoSuchKey', 'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'NotFound', 'InvalidBucketName']);

/** Sorts S3 failures into ones worth retrying (throttling, 5xx, resets) and ones that will not change. */
export function classifyS3Error(err: unknown, what: string): Error {
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode ?? 0;
    const detail = `${err.name}${status ? ` (HTTP ${status})` : ''}: ${err.message}`;
    if (err.name === 'NoSuchBucket') return new SourceError(`${what}: the bucket does not exist (${detail})`, { cause: err });
    if (NOT_RETRYABLE.has(err.name) || (status >= 400 && status < 500 && status !== 429 && status !== 408)) {
      return new SourceError(`${what}: ${detail}`, { cause: err });
    }
    return new TransientSourceError(`${what}: ${detail}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new TransientSourceError(`${what}: ${message}`, { cause: err });
}

/** An ETag as a version: S3-compatible stores differ in quoting it (and may mark it weak). */
function versionOf(etag: string | undefined): { version?: string } {
  const bare = etag?.replace(/^W\//, '').replaceAll('"', '');
  return bare ? { version: `ETag ${bare}` } : {};
}

export class S3Source {
  constructor(private readonly client: S3Client) {}

  /**
   * A key ending in "/" (or empty) is a prefix, listed recursively. Otherwise it names one object
   * if that object exists, else the "directory" key + "/", which is what `s3://b/folder` means to people.
   * Pages come as S3 answers them (`pageSize` keys at most), in key order, after the key `after`
   * when a listing resumes.
   */
  async *list(bucket: string, key: string, signal: AbortSignal, options: ListOptions): AsyncIterable<SourceObject[]> {
    let prefix = key;
    if (key !== '' && !key.endsWith('/')) {
      const single = await this.head(bucket, key, signal);
      if (single) {
        if (options.after === undefined) yield [single];
        return;
      }
      prefix = `${key}/`;
    }
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: options.pageSize, ...(token ? { ContinuationToken: token } : options.after ? { StartAfter: options.after } : {}) }),
          { abortSignal: signal },
        );
      } catch (err) {
        throw classifyS3Error(err, `listing s3://${bucket}/${prefix}`);
      }
      // Zero-byte keys ending in "/" are folder markers made by consoles, not data.
      const objects = (page.Contents ?? []).filter((object) => object.Key && !object.Key.endsWith('/'));
      yield objects.map((object) => ({ url: `s3://${bucket}/${object.Key}`, size: object.Size ?? 0, ...versionOf(object.ETag) }));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async head(bucket: string, key: string, signal: AbortSignal): Promise<SourceObject | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
      return { url: `s3://${bucket}/${key}`, size: head.ContentLength ?? 0, ...versionOf(head.ETag) };
    } catch (err) {
      if (err instanceof S3ServiceException && (err.name === 'NotFound' || err.name === 'NoSuchKey') && err.$metadata.httpStatusCode === 404) {
        return undefined;
      }
      throw classifyS3Error(err, `reading s3://${bucket}/${key}`);
    }
  }

  async open(bucket: string, key: string, signal: AbortSignal): Promise<OpenedObject> {
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
      // S3 serves one version whole: the answer's ETag is the version of the bytes in its body.
      return { body: object.Body as Readable, ...versionOf(object.ETag) };
    } catch (err) {
      throw classifyS3Error(err, `reading s3://${bucket}/${key}`);
    }
  }
}
