import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config/config.js';
import { FileSource } from './file-source.js';
import { createS3Client, S3Source } from './s3-source.js';
import { parseSourceUrl, type OpenedObject, type SourceObject, type SourceUrl } from './source-url.js';

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

  /**
   * The objects at `url`, a page at a time, in an order that does not change between listings;
   * `after` (an object URL this listing answered before) resumes after that object.
   */
  list(url: SourceUrl, signal: AbortSignal, options: { after?: string; pageSize: number }): AsyncIterable<SourceObject[]> {
    const after = options.after === undefined ? undefined : this.parse(options.after);
    if (url.scheme === 's3') return this.s3.list(url.bucket, url.key, signal, { pageSize: options.pageSize, ...(after?.scheme === 's3' ? { after: after.key } : {}) });
    return this.files.list(url.path, signal, { pageSize: options.pageSize, ...(after?.scheme === 'file' ? { after: after.path } : {}) });
  }

  /** Where a file:// object is on this machine (undefined for other schemes). */
  async localPath(objectUrl: string): Promise<string | undefined> {
    const url = this.parse(objectUrl);
    return url.scheme === 's3' ? undefined : this.files.localPath(fileURLToPath(objectUrl));
  }

  open(objectUrl: string, signal: AbortSignal): Promise<OpenedObject> {
    const url = this.parse(objectUrl);
    return url.scheme === 's3' ? this.s3.open(url.bucket, url.key, signal) : this.files.open(fileURLToPath(objectUrl));
  }

  /**
   * The listed objects that are no longer the version listed, with the reason. Files are checked
   * after they were read (a file rewritten in place while it is read gives torn rows); an S3
   * read is checked as it starts (see fetch), since S3 serves one version whole.
   */
  async changedSinceListed(objects: readonly SourceObject[]): Promise<{ url: string; error: string }[]> {
    const files = objects.filter((o): o is SourceObject & { version: string } => o.version !== undefined && this.parse(o.url).scheme === 'file');
    const now = await Promise.all(files.map((o) => this.files.version(fileURLToPath(o.url))));
    return files.flatMap((o, i) => (now[i] === o.version ? [] : [{ url: o.url, error: changedError(o.url, o.version, now[i]!) }]));
  }
}

/** Why an object that changed under its job was not loaded. */
export function changedError(url: string, listed: string, now: string): string {
  return `${url} changed after the job listed it (listed: ${listed}; now: ${now}): it was not loaded, since what was read may mix two versions; run a job for it again once it is written whole`;
}
