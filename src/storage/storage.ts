import { copyFile, mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Catalog } from '../catalog/db.js';
import type { StorageRow } from '../catalog/schema.js';
import { ensureStorage, getStorageById, listAllStorages } from '../catalog/storages.js';
import type { Config } from '../config/config.js';
import { SecretBox } from '../auth/secret-box.js';
import { getCredential, openCredential, type CredentialSecrets } from '../catalog/credentials.js';
import { errorMessage, QueryError, StorageError } from '../errors.js';
import { mapLimit } from '../map-limit.js';
import { createS3Client, type S3RequestObserver } from '../sources/s3-source.js';
import { PartitionCache, type CacheObserver } from './cache.js';
import { parseS3Location, S3Store } from './s3-store.js';
import { defaultStorageId, settingsOfUrl, storageUrlOf, type StorageSettings } from './settings.js';

/**
 * Where a partition is, as the catalog records it: `storage_id` is null for the local default
 * (`<data dir>/partitions` of the process, as every partition was before object storage), or
 * the storage it was uploaded to; `path` is its "/"-separated key below that storage's root,
 * `<table id>/<task id>-<attempt>/...`.
 */
export interface PartitionLocation {
  readonly storage_id: string | null;
  readonly path: string;
  readonly bytes: number;
}

/** A table as the storage needs it: its id, and its settings (storage_map chooses its storage). */
export interface TableLocation {
  readonly id: string;
  readonly settings: string;
}

/** A task attempt's output: DuckDB writes below `dir`; `publish` makes the files durable, `discard` removes them. */
export interface AttemptOutput {
  readonly dir: string;
  /** Uploads the files (absolute paths below `dir`) when the storage is remote; answers their locations. */
  publish(files: readonly string[], signal?: AbortSignal): Promise<{ storageId: string | null; path: string }[]>;
  discard(): Promise<void>;
}

/** An attempt's files in one storage, for the sweeper. */
export interface StoredAttempt {
  /** null: the local default. */
  readonly storageId: string | null;
  readonly tableId: string;
  readonly attempt: string;
  /** When its newest file was written (looked up only for attempts the sweeper may remove). */
  modifiedMs(): Promise<number>;
}

/** Pruned partitions as local files a query's DuckDB can read (per table, in order), held until released. */
export interface ReadableFiles {
  readonly files: readonly (readonly string[])[];
  release(): void;
}

/** Partition files uploaded or downloaded at once by one task or one query. */
const TRANSFER_PARALLELISM = 8;

const toKey = (relative: string) => relative.split(path.sep).join('/');

/** The storage a table's settings choose (`storage_map.default_storage_id`), if any. */
export function chosenStorageId(settings: string): string | undefined {
  const id = (JSON.parse(settings) as { storage_map?: { default_storage_id?: unknown } }).storage_map?.default_storage_id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/**
 * The one owner of partition files: where an attempt writes, how its files become durable,
 * how a query gets them as local files, and how they are listed and removed. The default
 * storage (INLET_STORAGE_URL) is either a local directory, written and read in place, or an
 * S3 location; a table may choose another storage of its org. Remote partitions are written
 * through local scratch and read through a bounded cache laid out per table.
 */
/**
 * How long a storage's row and credential are trusted before they are read again: after a
 * credential's keys are replaced (and the old ones revoked), reads use the new ones within this.
 */
const STORE_FRESH_MS = 30_000;

export class PartitionStorage {
  /** The default storage's id, as the Storages API lists it. */
  readonly defaultId: string;
  private readonly defaultRemote: boolean;
  private readonly clients = new Map<string, S3Client>();
  /**
   * Stores by storage id, with when each was made. A storage holding partitions never changes its
   * bucket (the API refuses it), but its credential's keys may be replaced: see STORE_FRESH_MS.
   */
  private readonly stores = new Map<string, { store: Promise<S3Store>; madeAt: number }>();
  private cacheInstance: PartitionCache | undefined;

  constructor(
    private readonly config: Pick<Config, 'storageUrl' | 'dataDir' | 'cacheDir' | 'cacheBytes' | 's3Endpoint' | 's3Region' | 's3ForcePathStyle' | 'secretKey'>,
    private readonly catalog: Catalog,
    /** Told of each S3 request (the worker process's metrics). */
    private readonly observe?: S3RequestObserver,
    /** Told of each query's cache hits and misses (the query process's metrics). */
    private readonly observeCache?: CacheObserver,
  ) {
    this.defaultRemote = config.storageUrl.startsWith('s3://');
    this.defaultId = defaultStorageId(config.storageUrl, this.defaultRemote ? config.s3Endpoint : undefined);
  }

  /** The local root of partitions: the configured directory, or the data dir's for rows recorded before object storage. */
  private get localRoot(): string {
    return this.defaultRemote ? path.join(this.config.dataDir, 'partitions') : this.config.storageUrl;
  }

  /** Where a worker's DuckDB writes partitions in place: the local root, or nothing when they are uploaded from scratch. */
  writableDirs(): string[] {
    return this.defaultRemote ? [] : [this.localRoot];
  }

  /** Created on first use: a worker-only process never reads through it. */
  private get cache(): PartitionCache {
    return (this.cacheInstance ??= new PartitionCache(this.config.cacheDir, this.config.cacheBytes, TRANSFER_PARALLELISM, this.observeCache));
  }

  /** The local root exists, and an S3 default storage has its catalog row, so partitions can name it. */
  async prepare(): Promise<void> {
    if (!this.defaultRemote) await mkdir(this.localRoot, { recursive: true });
    else await ensureStorage(this.catalog, this.defaultId, { name: 'default', description: 'INLET_STORAGE_URL', settings: JSON.stringify(this.defaultSettings()) });
  }

  /** Whether the default storage's bucket answers: false when partitions are local (nothing to reach), throws when it does not. */
  async probeDefault(signal?: AbortSignal): Promise<boolean> {
    if (!this.defaultRemote) return false;
    await (await this.store(this.defaultId)).probe(signal);
    return true;
  }

  /** The default storage as the Storages API shows it. */
  defaultSettings(): StorageSettings & { cloud: string } {
    if (this.defaultRemote) return { ...settingsOfUrl(this.config.storageUrl, this.config.s3Endpoint, this.config.s3Region), cloud: 'aws' };
    return { bucket_name: '', bucket_path: this.config.storageUrl, cloud: 'local' };
  }

  /** The storage id partitions of this table are recorded with: null for the local default. */
  private recordedId(table: TableLocation): string | null {
    const chosen = chosenStorageId(table.settings) ?? this.defaultId;
    return chosen === this.defaultId && !this.defaultRemote ? null : chosen;
  }

  private client(endpoint: string | undefined, region: string, credential?: { id: string; secrets: CredentialSecrets }): S3Client {
    const key = `${endpoint ?? ''}\n${region}\n${credential?.id ?? ''}`;
    let client = this.clients.get(key);
    if (!client) this.clients.set(key, (client = createS3Client({ s3Endpoint: endpoint, s3Region: region, s3ForcePathStyle: this.config.s3ForcePathStyle }, credential?.secrets, this.observe)));
    return client;
  }

  private async storeOfRow(row: StorageRow): Promise<S3Store> {
    const settings = JSON.parse(row.settings) as StorageSettings;
    const credential = settings.credential_id !== undefined && row.org_id ? await this.credential(row, settings.credential_id) : undefined;
    return new S3Store(this.client(settings.endpoint ?? this.config.s3Endpoint, settings.region ?? this.config.s3Region, credential), parseS3Location(storageUrlOf(settings)));
  }

  /** A storage's stored credential (its keys only: the storage says where), opened with INLET_SECRET_KEY. */
  private async credential(row: StorageRow, id: string): Promise<{ id: string; secrets: CredentialSecrets }> {
    const box = SecretBox.fromKey(this.config.secretKey);
    if (!box) throw new StorageError(`storage "${row.name}" uses credential ${id}, and this process has no INLET_SECRET_KEY: set the same key on every process`);
    const stored = await getCredential(this.catalog, row.org_id!, id).catch((err: unknown) => {
      throw new StorageError(`storage "${row.name}": ${errorMessage(err)}`);
    });
    let opened;
    try {
      opened = openCredential(box, stored);
    } catch {
      throw new StorageError(`storage "${row.name}": credential "${stored.name}" cannot be opened with this process's INLET_SECRET_KEY: every process needs the key it was stored with`);
    }
    const { access_key_id, secret_access_key, session_token } = opened;
    return { id: `${stored.id}\n${stored.modified}`, secrets: { access_key_id, secret_access_key, ...(session_token ? { session_token } : {}) } };
  }

  /** A storage's objects; `fresh` reads its row again (a storage without partitions may have changed its bucket). */
  private store(id: string, fresh = false): Promise<S3Store> {
    const known = this.stores.get(id);
    if (known && !fresh && Date.now() - known.madeAt < STORE_FRESH_MS) return known.store;
    // The partitions a query opens ask at once: they share one reading of the row.
    const store = (async () => {
      const row = await getStorageById(this.catalog, id);
      if (!row) throw new StorageError(`storage ${id} is not in the catalog: set the table's settings.storage_map.default_storage_id to one of GET /config/v1/orgs/{org}/storages/`);
      return this.storeOfRow(row);
    })();
    const entry = { store, madeAt: Date.now() };
    this.stores.set(id, entry);
    // A failed reading is not kept: the next caller reads again.
    store.catch(() => {
      if (this.stores.get(id) === entry) this.stores.delete(id);
    });
    return store;
  }

  /** Where one attempt writes. Local storage: in place, below the root (no copy). Remote: below the attempt's scratch. */
  async attemptOutput(tableId: string, attempt: string, scratchDir: string): Promise<AttemptOutput> {
    const prefix = `${tableId}/${attempt}`;
    const table = await this.catalog.db.selectFrom('tables').select(['id', 'settings']).where('id', '=', tableId).executeTakeFirst();
    const storageId = table ? this.recordedId(table) : this.defaultRemote ? this.defaultId : null;
    if (storageId === null) {
      const root = this.localRoot;
      const dir = path.join(root, tableId, attempt);
      return {
        dir,
        publish: async (files) => files.map((file) => ({ storageId: null, path: toKey(path.relative(root, file)) })),
        discard: () => rm(dir, { recursive: true, force: true }),
      };
    }
    const remote = await this.store(storageId, true);
    const dir = path.join(scratchDir, 'partitions');
    return {
      dir,
      publish: async (files, signal) => {
        const keys = files.map((file) => `${prefix}/${toKey(path.relative(dir, file))}`);
        const results = await mapLimit(files, TRANSFER_PARALLELISM, (file, i) => remote.upload(keys[i]!, file, signal));
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw (failed as PromiseRejectedResult).reason;
        return keys.map((key) => ({ storageId, path: key }));
      },
      discard: async () => {
        await rm(dir, { recursive: true, force: true });
        await remote.removePrefix(`${prefix}/`);
      },
    };
  }

  /** The directory a table's query sandbox may read: every file `open` answers for the table is below it. */
  readableDir(table: TableLocation): string {
    return this.recordedId(table) === null ? path.join(this.localRoot, table.id) : this.cache.tableDir(table.id);
  }

  /**
   * Each table's partitions as local files below its readable `dir`: in place for the local
   * storage, else in the cache (downloading only the missing ones).
   */
  async open(tables: readonly { readonly dir: string; readonly partitions: readonly PartitionLocation[] }[], signal?: AbortSignal): Promise<ReadableFiles> {
    const cacheDir = this.cacheInstance?.dir;
    const cached = (t: { dir: string }) => cacheDir !== undefined && t.dir.startsWith(cacheDir + path.sep);
    const root = this.localRoot;
    const inPlace = (t: { partitions: readonly PartitionLocation[] }) => t.partitions.map((p) => path.join(root, ...this.localPath(p)));
    if (!tables.some(cached)) return { files: tables.map(inPlace), release: () => undefined };
    const remote = tables.filter(cached);
    const items = await Promise.all(
      remote.flatMap((t) =>
        t.partitions.map(async (p) => {
          const parts = checkedPath(p.path);
          if (p.storage_id === null) {
            // Written before the table's storage was remote: copied into the cache, where its sandbox reads.
            const source = path.join(root, ...parts);
            return { key: p.path, bytes: p.bytes, fetch: (dest: string) => copyFile(source, dest) };
          }
          const store = await this.store(p.storage_id);
          return { key: p.path, bytes: p.bytes, fetch: (dest: string, abort?: AbortSignal) => store.download(p.path, dest, abort) };
        }),
      ),
    );
    const pinned = await this.cache.acquire(items, signal);
    let next = 0;
    const files = tables.map((t) => (cached(t) ? pinned.files.slice(next, (next += t.partitions.length)) : inPlace(t)));
    return { files, release: pinned.release };
  }

  /** A file of the storage as a local file a worker's DuckDB can read: in place when local, else downloaded to `dest`. */
  async localFile(p: PartitionLocation, dest: string, signal?: AbortSignal): Promise<string> {
    if (p.storage_id === null) return path.join(this.localRoot, ...checkedPath(p.path));
    await (await this.store(p.storage_id)).download(p.path, dest, signal);
    return dest;
  }

  private localPath(p: PartitionLocation): string[] {
    if (p.storage_id !== null) {
      throw new QueryError(`partition ${p.path} is in storage ${p.storage_id}, and its table now uses the local storage: set the table's settings.storage_map.default_storage_id back to ${p.storage_id} to read it`);
    }
    return checkedPath(p.path);
  }

  /**
   * Attempts with files in any storage: the local default and every storage in the catalog. A
   * storage that cannot be listed (a bucket gone, an endpoint down) is reported and skipped,
   * so it does not keep the others from being swept.
   */
  async listAttempts(onError: (storageId: string, err: unknown) => void): Promise<StoredAttempt[]> {
    const found: StoredAttempt[] = [];
    const root = this.localRoot;
    for (const tableId of await subdirs(root)) {
      for (const attempt of await subdirs(path.join(root, tableId))) {
        found.push({ storageId: null, tableId, attempt, modifiedMs: () => newestMtime(path.join(root, tableId, attempt)) });
      }
    }
    for (const row of await listAllStorages(this.catalog)) {
      const newest = new Map<string, number>();
      try {
        for await (const object of (await this.store(row.id)).list('')) {
          const [tableId, attempt] = object.key.split('/');
          if (!tableId || !attempt) continue;
          const key = `${tableId}/${attempt}`;
          newest.set(key, Math.max(newest.get(key) ?? 0, object.modifiedMs));
        }
      } catch (err) {
        onError(row.id, err);
        continue;
      }
      for (const [key, modifiedMs] of newest) {
        const [tableId, attempt] = key.split('/') as [string, string];
        found.push({ storageId: row.id, tableId, attempt, modifiedMs: async () => modifiedMs });
      }
    }
    return found;
  }

  async removeAttempt(stored: StoredAttempt): Promise<void> {
    if (stored.storageId === null) await rm(path.join(this.localRoot, stored.tableId, stored.attempt), { recursive: true, force: true });
    else await (await this.store(stored.storageId)).removePrefix(`${stored.tableId}/${stored.attempt}/`);
  }

  /** Every file of a table: locally, in its cache, in the storages its partitions name, its chosen one and the default. */
  /** Drops a table's files from this process's read cache (the table was deleted by another process). */
  async forgetCached(tableId: string): Promise<void> {
    await this.cacheInstance?.removeTable(tableId);
  }

  async removeTable(table: TableLocation, storageIds: readonly (string | null)[]): Promise<void> {
    await rm(path.join(this.localRoot, table.id), { recursive: true, force: true });
    await this.cacheInstance?.removeTable(table.id);
    const remotes = new Set(storageIds.filter((id): id is string => id !== null));
    const chosen = this.recordedId(table);
    if (chosen !== null) remotes.add(chosen);
    if (this.defaultRemote) remotes.add(this.defaultId);
    for (const id of remotes) await (await this.store(id)).removePrefix(`${table.id}/`);
  }

  close(): void {
    for (const client of this.clients.values()) client.destroy();
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
