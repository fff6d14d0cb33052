import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config/config.js';
import { FileSource } from './file-source.js';
import { createS3Client, S3Source } from './s3-source.js';
import { parseSourceUrl, type SourceObject, type SourceUrl } from './source-url.js';

/** Every place a job can read from, chosen by URL scheme. */
export class Sources {
  private readonly s3: S3Source;
  private readonly files: FileSource;

  constructor(
    private readonly config: Pick<Config, 'fileRoots' | 's3Endpoint' | 's3Region' | 's3ForcePathStyle'>,
    client: S3Client = createS3Client(config),
  ) {
    this.s3 = new S3Source(client);
    this.files = new FileSource(config.fileRoots);
  }

  parse(url: unknown): SourceUrl {
    return parseSourceUrl(url, this.config.fileRoots);
  }

  list(url: SourceUrl, signal: AbortSignal): AsyncIterable<SourceObject> {
    return url.scheme === 's3' ? this.s3.list(url.bucket, url.key, signal) : this.files.list(url.path, signal);
  }

  /** Where a file:// object is on this machine (undefined for other schemes). */
  async localPath(objectUrl: string): Promise<string | undefined> {
    const url = this.parse(objectUrl);
    return url.scheme === 's3' ? undefined : this.files.localPath(fileURLToPath(objectUrl));
  }

  open(objectUrl: string, signal: AbortSignal): Promise<Readable> {
    const url = this.parse(objectUrl);
    return url.scheme === 's3' ? this.s3.open(url.bucket, url.key, signal) : this.files.open(fileURLToPath(objectUrl));
  }
}
