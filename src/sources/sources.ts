import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { SecretBox } from '../auth/secret-box.js';
import { getCredential, openCredential } from '../catalog/credentials.js';
import type { Catalog } from '../catalog/db.js';
import { jobSettingsOf } from '../catalog/parsed.js';
import type { JobRow } from '../catalog/schema.js';
import type { Config } from '../config/config.js';
import { errorMessage, SourceError } from '../errors.js';
import { FileSource } from './file-source.js';
import { createS3Client, S3Source, type S3RequestObserver } from './s3-source.js';
import { parseSourceUrl, type ListOptions, type OpenedObject, type SourceObject, type SourceUrl } from './source-url.js';

/** Every place a job can read from, chosen by URL scheme. */
export class Sources {
  private readonly s3: S3Source;
  private readonly files: FileSource;
  /** Sources bound to a stored credential, by credential id and version: one S3 client each. */
  private readonly withCredential = new Map<string, Sources>();

  constructor(
    private readonly config: Pick<Config, 'fileRoots' | 's3Endpoint' | 's3Region' | 's3ForcePathStyle' | 'secretKey'>,
    client?: S3Client,
    /** Told of each S3 request, by this and the credential-bound sources made from it. */
    private readonly observe?: S3RequestObserver,
  ) {
    client ??= createS3Client(config, undefined, observe);
    this.s3 = new S3Source(client);
    this.files = new FileSource(config.fileRoots);
  }

  /**
   * The sources a job reads with: these, or (when its settings.source.settings name a
   * credential_id) the same with an S3 client holding that credential of the job's org.
   */
  async forJob(catalog: Catalog, job: Pick<JobRow, 'org_id' | 'settings'>): Promise<Sources> {
    // Optional chaining: jobs made straight in the catalog (tests, tools) may hold settings of {}.
    const id: unknown = jobSettingsOf(job).source?.settings?.credential_id;
    if (typeof id !== 'string') return this;
    const box = SecretBox.fromKey(this.config.secretKey);
    if (!box) throw new SourceError(`the job's credential_id ${id} cannot be used: this worker has no INLET_SECRET_KEY (set the same key on every process)`);
    const row = await getCredential(catalog, job.org_id, id).catch((err: unknown) => {
      throw new SourceError(`the job's credential_id: ${errorMessage(err)}`);
    });
    const key = `${row.id}\n${row.modified}`;
    let bound = this.withCredential.get(key);
    if (!bound) {
      let credential;
      try {
        credential = openCredential(box, row);
      } catch {
        throw new SourceError(`credential "${row.name}" cannot be opened with this process's INLET_SECRET_KEY: every process needs the key it was stored with`);
      }
      bound = new Sources(this.config, createS3Client(this.config, credential, this.observe), this.observe);
      // Few credentials are in use at once; past a handful the oldest is forgotten (a task still reading with it keeps its client).
      if (this.withCredential.size >= 32) this.withCredential.delete(this.withCredential.keys().next().value!);
      this.withCredential.set(key, bound);
    }
    return bound;
  }

  parse(url: unknown): SourceUrl {
    return parseSourceUrl(url, this.config.fileRoots);
  }

  /**
   * The objects at `url`, a page at a time, in an order that does not change between listings;
   * `after` (an object URL this listing answered before) resumes after that object.
   */
  list(url: SourceUrl, signal: AbortSignal, options: { after?: string; pageSize: number; notListed?: ListOptions['notListed'] }): AsyncIterable<SourceObject[]> {
    const after = options.after === undefined ? undefined : this.parse(options.after);
    if (url.scheme === 's3') return this.s3.list(url.bucket, url.key, signal, { pageSize: options.pageSize, ...(after?.scheme === 's3' ? { after: after.key } : {}) });
    if (url.scheme === 'rejects') throw notHere(url.jobId);
    return this.files.list(url.path, signal, { pageSize: options.pageSize, notListed: options.notListed, ...(after?.scheme === 'file' ? { after: after.path } : {}) });
  }

  /** Where a file:// object is on this machine (undefined for other schemes). */
  async localPath(objectUrl: string): Promise<string | undefined> {
    const url = this.parse(objectUrl);
    return url.scheme === 'file' ? this.files.localPath(fileURLToPath(objectUrl)) : undefined;
  }

  open(objectUrl: string, signal: AbortSignal): Promise<OpenedObject> {
    const url = this.parse(objectUrl);
    if (url.scheme === 'rejects') throw notHere(url.jobId);
    return url.scheme === 's3' ? this.s3.open(url.bucket, url.key, signal) : this.files.open(fileURLToPath(objectUrl));
  }

  /** The object's version now (S3's ETag, a file's size and time); undefined when it is missing or the source gives none. */
  async currentVersion(objectUrl: string, signal: AbortSignal): Promise<string | undefined> {
    const url = this.parse(objectUrl);
    if (url.scheme === 's3') return (await this.s3.head(url.bucket, url.key, signal))?.version;
    // A quarantine file never changes: its id is its version.
    if (url.scheme === 'rejects') return url.fileId;
    return this.files.version(fileURLToPath(objectUrl)).catch(() => undefined);
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

/** A job's quarantine is read from the catalog and the partition storage (see rejects-source.ts), never through these. */
const notHere = (jobId: string) => new SourceError(`rejects://${jobId} is a job's quarantine: its files are listed and read by the worker from the catalog, not as objects`);

/** Why an object that changed under its job was not loaded. */
export function changedError(url: string, listed: string, now: string): string {
  return `${url} changed after the job listed it (listed: ${listed}; now: ${now}): it was not loaded, since what was read may mix two versions; run a job for it again once it is written whole`;
}
