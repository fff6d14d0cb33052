import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config/config.js';
import { QueryError, StorageError } from '../errors.js';
import { mapLimit } from '../map-limit.js';
import { createS3Client } from '../sources/s3-source.js';
import { PartitionCache } from './cache.js';
import { parseS3Location, S3Store } from './s3-store.js';

/**
 * Where a partition is, as the catalog records it: `storage` is null for the local default
 * (`<data dir>/partitions` of the process, as every partition was before object storage), or
 * the `s3://bucket/prefix/` it was uploaded to; `path` is its "/"-separated key below that
 * root, `<table id>/<task id>-<attempt>/...`.
 */
export interface PartitionLocation {
  readonly storage_url: string | null;
  readonly path: string;
  readonly bytes: number;
}

/** A task attempt's output: DuckDB writes below `dir`; `publish` makes the files durable, `discard` removes them. */
export interface AttemptOutput {
  readonly dir: string;
  /** Uploads the files (absolute paths below `dir`) when the storage is remote; answers their locations. */
  publish(files: readonly string[], signal?: AbortSignal): Promise<{ storage: string | null; path: string }[]>;
  discard(): Promise<void>;
}

/** An attempt's files in the default storage, for the sweeper. */
export interface StoredAttempt {
  readonly tableId: string;
  readonly attempt: string;
  /** When its newest file was written. */
  readonly modifiedMs: number;
}

/** Pruned partitions as local files a query's DuckDB can read (per table, in order), held until released. */
export interface ReadableFiles {
  readonly files: readonly (readonly string[])[];
  release(): void;
}

/** Partition files uploaded or downloaded at once by one task or one query. */
const TRANSFER_PARALLELISM = 8;

const toKey = (relative: string) => relative.split(path.sep).join('/');

/**
 * The one owner of partition files: where an attempt writes, how its files become durable,
 * how a query gets them as local files, and how they are listed and removed. The default
 * storage (INLET_STORAGE_URL) is either the local directory, written and read in place, or
 * an S3 location, written through local scratch and read through a bounded cache.
 */
export class PartitionStorage {
  private readonly client: S3Client | undefined;
  private readonly remote: S3Store | undefined;
  /** Stores of locations other than the default that committed partitions name. */
  private readonly others = new Map<string, S3Store>();
  private cacheInstance: PartitionCache | undefined;

  constructor(
    private readonly config: Pick<Config, 'storageUrl' | 'dataDir' | 'cacheDir' | 'cacheBytes' | 's3Endpoint' | 's3Region' | 's3ForcePathStyle'>,
    client?: S3Client,
  ) {
    if (config.storageUrl.startsWith('s3://')) {
      this.client = client ?? createS3Client(config);
      this.remote = new S3Store(this.client, parseS3Location(config.storageUrl));
    }
  }

  /** The local root of partitions: the configured directory, or the data dir's for rows recorded before object storage. */
  private get localRoot(): string {
    return this.remote ? path.join(this.config.dataDir, 'partitions') : this.config.storageUrl;
  }

  /** Creates the local root, so a first query of an empty table finds its directory. */
  async prepare(): Promise<void> {
    if (!this.remote) await mkdir(this.localRoot, { recursive: true });
  }

  /** What the catalog records for partitions written now. */
  get location(): string | null {
    return this.remote ? this.remote.location.url : null;
  }

  /** Created on first use: a worker-only process never reads through it. */
  private get cache(): PartitionCache {
    return (this.cacheInstance ??= new PartitionCache(this.config.cacheDir, this.config.cacheBytes, TRANSFER_PARALLELISM));
  }

  /** Where one attempt writes. Local storage: in place, below the root (no copy). Remote: below the attempt's scratch. */
  attemptOutput(tableId: string, attempt: string, scratchDir: string): AttemptOutput {
    const prefix = `${tableId}/${attempt}`;
    const remote = this.remote;
    if (!remote) {
      const root = this.localRoot;
      const dir = path.join(root, tableId, attempt);
      return {
        dir,
        publish: async (files) => files.map((file) => ({ storage: null, path: toKey(path.relative(root, file)) })),
        discard: () => rm(dir, { recursive: true, force: true }),
      };
    }
    const dir = path.join(scratchDir, 'partitions');
    return {
      dir,
      publish: async (files, signal) => {
        const keys = files.map((file) => `${prefix}/${toKey(path.relative(dir, file))}`);
        const results = await mapLimit(files, TRANSFER_PARALLELISM, (file, i) => remote.upload(keys[i]!, file, signal));
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw (failed as PromiseRejectedResult).reason;
        return keys.map((key) => ({ storage: remote.location.url, path: key }));
      },
      discard: async () => {
        await rm(dir, { recursive: true, force: true });
        await remote.removePrefix(`${prefix}/`);
      },
    };
  }

  /** The directory a table's query sandbox may read: every file `open` answers for the table is below it. */
  readableDir(tableId: string): string {
    return this.remote ? this.cache.tableDir(tableId) : path.join(this.localRoot, tableId);
  }

  /** Each table's partitions as local files: in place for local storage, else downloaded into the cache (only the missing ones). */
  async open(tables: readonly (readonly PartitionLocation[])[], signal?: AbortSignal): Promise<ReadableFiles> {
    if (!this.remote) {
      const root = this.localRoot;
      return { files: tables.map((partitions) => partitions.map((p) => path.join(root, ...checkedPath(p.path)))), release: () => undefined };
    }
    const all = tables.flat();
    const pinned = await this.cache.acquire(
      all.map((p) => {
        const store = this.storeOf(p);
        checkedPath(p.path);
        return { key: p.path, bytes: p.bytes, fetch: (dest, abort) => store.download(p.path, dest, abort) };
      }),
      signal,
    );
    let next = 0;
    return { files: tables.map((partitions) => pinned.files.slice(next, (next += partitions.length))), release: pinned.release };
  }

  private storeOf(p: PartitionLocation): S3Store {
    if (p.storage_url === null || !p.storage_url.startsWith('s3://')) {
      throw new QueryError(
        `partition ${p.path} is in the local storage of the process that wrote it, and this process reads ${this.remote!.location.url}: load the table again with INLET_STORAGE_URL set on every process`,
      );
    }
    if (p.storage_url === this.remote!.location.url) return this.remote!;
    let store = this.others.get(p.storage_url);
    if (!store) this.others.set(p.storage_url, (store = new S3Store(this.client!, parseS3Location(p.storage_url))));
    return store;
  }

  /** Attempts with files in the default storage. */
  async listAttempts(): Promise<StoredAttempt[]> {
    const newest = new Map<string, number>();
    if (this.remote) {
      for await (const object of this.remote.list('')) {
        const [tableId, attempt] = object.key.split('/');
        if (!tableId || !attempt) continue;
        const key = `${tableId}/${attempt}`;
        newest.set(key, Math.max(newest.get(key) ?? 0, object.modifiedMs));
      }
    } else {
      for (const tableId of await subdirs(this.localRoot)) {
        for (const attempt of await subdirs(path.join(this.localRoot, tableId))) {
          newest.set(`${tableId}/${attempt}`, await newestMtime(path.join(this.localRoot, tableId, attempt)));
        }
      }
    }
    return [...newest].map(([key, modifiedMs]) => {
      const [tableId, attempt] = key.split('/') as [string, string];
      return { tableId, attempt, modifiedMs };
    });
  }

  async removeAttempt(tableId: string, attempt: string): Promise<void> {
    if (this.remote) await this.remote.removePrefix(`${tableId}/${attempt}/`);
    else await rm(path.join(this.localRoot, tableId, attempt), { recursive: true, force: true });
  }

  /** Every file of a table: in the default storage and in each location its partitions name. */
  async removeTable(tableId: string, locations: readonly (string | null)[]): Promise<void> {
    await rm(path.join(this.localRoot, tableId), { recursive: true, force: true });
    if (this.cacheInstance) await rm(this.cacheInstance.tableDir(tableId), { recursive: true, force: true });
    const remotes = new Set(locations.filter((l): l is string => l !== null && l.startsWith('s3://')));
    if (this.remote) remotes.add(this.remote.location.url);
    if (remotes.size > 0 && !this.client) {
      throw new StorageError(`table ${tableId} has partitions in ${[...remotes].join(', ')}, and this process has no S3 storage configured: set INLET_STORAGE_URL to delete them`);
    }
    for (const url of remotes) {
      const store = url === this.remote?.location.url ? this.remote : new S3Store(this.client!, parseS3Location(url));
      await store.removePrefix(`${tableId}/`);
    }
  }

  close(): void {
    this.client?.destroy();
  }
}

/** Keys come from the catalog; one that could climb out of its root is refused, not followed. */
function checkedPath(key: string): string[] {
  const parts = key.split(/[\\/]/);
  if (parts.some((part) => part === '' || part === '.' || part === '..')) {
    throw new QueryError(`partition path ${JSON.stringify(key)} in the catalog is not a plain relative path: the catalog was altered by hand`);
  }
  return parts;
}

async function subdirs(parent: string): Promise<string[]> {
  try {
    return (await readdir(parent, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

async function newestMtime(dir: string): Promise<number> {
  let newest = (await stat(dir).catch(() => undefined))?.mtimeMs ?? 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (entry.isFile()) newest = Math.max(newest, (await stat(path.join(entry.parentPath, entry.name)).catch(() => undefined))?.mtimeMs ?? 0);
  }
  return newest;
}
