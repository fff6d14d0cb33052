import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { errorMessage, StorageError } from '../errors.js';
import { mapLimit } from '../map-limit.js';

/** `s3://bucket/prefix/` split; the prefix is empty or ends in "/". */
export interface S3Location {
  readonly url: string;
  readonly bucket: string;
  readonly prefix: string;
}

export function parseS3Location(url: string): S3Location {
  const rest = url.slice('s3://'.length);
  const slash = rest.indexOf('/');
  return { url, bucket: slash < 0 ? rest : rest.slice(0, slash), prefix: slash < 0 ? '' : rest.slice(slash + 1) };
}

export interface StoredObject {
  /** Relative to the location's prefix. */
  readonly key: string;
  readonly modifiedMs: number;
}

/** Deletes run this many at a time: one request per object works on every S3-compatible store. */
const DELETE_PARALLELISM = 16;

/** Partition objects below one `s3://bucket/prefix/`, keyed relative to the prefix. */
export class S3Store {
  constructor(
    private readonly client: S3Client,
    readonly location: S3Location,
  ) {}

  private fail(what: string, key: string, err: unknown): StorageError {
    return new StorageError(`${what} ${this.location.url}${key} failed: ${errorMessage(err)}; check INLET_STORAGE_URL, the endpoint and the credentials`, { cause: err });
  }

  /** Multipart for large files: a partition can be larger than one PUT may carry. */
  async upload(key: string, file: string, signal?: AbortSignal): Promise<void> {
    const upload = new Upload({ client: this.client, params: { Bucket: this.location.bucket, Key: this.location.prefix + key, Body: createReadStream(file) } });
    const onAbort = () => void upload.abort().catch(() => undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (err) {
      throw this.fail('uploading', key, err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Writes to a temporary name first, so a file at `dest` is always whole. */
  async download(key: string, dest: string, signal?: AbortSignal): Promise<void> {
    const partial = `${dest}.${process.pid}.${Math.random().toString(36).slice(2)}.part`;
    try {
      const object = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.location.prefix + key }), { abortSignal: signal });
      await pipeline(object.Body as Readable, createWriteStream(partial), { signal });
      await rename(partial, dest);
    } catch (err) {
      await rm(partial, { force: true });
      throw this.fail('downloading', key, err);
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: this.location.prefix + prefix, ContinuationToken: token }));
      } catch (err) {
        throw this.fail('listing', prefix, err);
      }
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue;
        yield { key: object.Key.slice(this.location.prefix.length), modifiedMs: object.LastModified?.getTime() ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Asks for one key below the location: the bucket exists and answers with these credentials. */
  async probe(signal?: AbortSignal): Promise<void> {
    try {
      await this.client.send(new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: this.location.prefix, MaxKeys: 1 }), { abortSignal: signal });
    } catch (err) {
      throw this.fail('listing', '', err);
    }
  }

  async removePrefix(prefix: string): Promise<number> {
    const keys: string[] = [];
    for await (const object of this.list(prefix)) keys.push(object.key);
    const results = await mapLimit(keys, DELETE_PARALLELISM, async (key) => {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.location.prefix + key }));
      } catch (err) {
        throw this.fail('deleting', key, err);
      }
    });
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return keys.length;
  }
}
