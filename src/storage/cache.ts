import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { QueryError } from '../errors.js';
import { mapLimit } from '../map-limit.js';

const TABLE_DIR = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** One file a query needs: where it goes below the cache, its size, and how to fetch it. */
export interface CacheItem {
  /** Relative, "/"-separated, starting with the table's id: the cache lays files out per table. */
  readonly key: string;
  readonly bytes: number;
  readonly fetch: (dest: string, signal?: AbortSignal) => Promise<void>;
}

/** Told, per query, how many of its files were already local and how many (and bytes) it downloads. */
export type CacheObserver = (files: { hits: number; misses: number; missingBytes: number }) => void;

/** Files held for one query: they are not evicted until released. */
export interface PinnedFiles {
  readonly files: readonly string[];
  release(): void;
}

interface Entry {
  readonly file: string;
  readonly bytes: number;
  pins: number;
  ready: Promise<void>;
}

/**
 * A bounded local copy of partitions that live in object storage. Files are downloaded only
 * when a query's pruning selected them; the least recently used ones that no running query
 * holds are removed once the total passes the bound. Files held by running queries may take
 * it past the bound until they are released.
 */
export class PartitionCache {
  /** In least recently used order: Map keeps insertion order, and a use re-inserts. */
  private readonly entries = new Map<string, Entry>();
  private used = 0;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
    private readonly parallelism: number,
    private readonly observe?: CacheObserver,
  ) {
    // What a previous run left is not tracked: start empty rather than trust half-written files.
    // Only table directories go: the directory is the operator's choice and may hold other things.
    mkdirSync(dir, { recursive: true });
    for (const name of readdirSync(dir)) if (TABLE_DIR.test(name)) rmSync(path.join(dir, name), { recursive: true, force: true });
  }

  /** The directory a table's cached files are below (what its query sandbox may read). */
  tableDir(tableId: string): string {
    return path.join(this.dir, tableId);
  }

  /** Bytes of the files in the cache, held or not. */
  get bytes(): number {
    return this.used;
  }

  /** Holds the files (downloading the missing ones, a few at once) until `release`. */
  async acquire(items: readonly CacheItem[], signal?: AbortSignal): Promise<PinnedFiles> {
    const wanted = items.reduce((sum, item) => sum + item.bytes, 0);
    if (wanted > this.maxBytes) {
      throw new QueryError(`The query needs ${wanted} bytes of partitions, more than INLET_CACHE_BYTES=${this.maxBytes} can hold: narrow the time range or raise INLET_CACHE_BYTES (CACHE_TOO_SMALL)`);
    }
    const held: Entry[] = [];
    const missing: { item: CacheItem; entry: Entry }[] = [];
    for (const item of items) {
      let entry = this.entries.get(item.key);
      if (entry) {
        this.entries.delete(item.key);
      } else {
        entry = { file: path.join(this.dir, ...checkedKey(item.key).split('/')), bytes: item.bytes, pins: 0, ready: Promise.resolve() };
        this.used += item.bytes;
        missing.push({ item, entry });
      }
      this.entries.set(item.key, entry);
      entry.pins++;
      held.push(entry);
    }
    this.observe?.({ hits: items.length - missing.length, misses: missing.length, missingBytes: missing.reduce((sum, m) => sum + m.item.bytes, 0) });
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      for (const entry of held) entry.pins--;
      this.evict();
    };
    // Room is made before downloading, so the bound holds while files arrive.
    this.evict();
    const downloads = mapLimit(missing, this.parallelism, async ({ item, entry }) => {
      await mkdir(path.dirname(entry.file), { recursive: true });
      await item.fetch(entry.file, signal);
    });
    for (const [i, { entry }] of missing.entries()) entry.ready = downloads.then((results) => (results[i]!.status === 'rejected' ? Promise.reject(results[i]!.reason) : undefined));
    (await downloads).forEach((result, i) => result.status === 'rejected' && this.drop(missing[i]!.item.key, missing[i]!.entry));
    // Files another query is still downloading are waited for too.
    const failed = (await Promise.allSettled(held.map((entry) => entry.ready))).find((o) => o.status === 'rejected');
    if (failed) {
      release();
      throw (failed as PromiseRejectedResult).reason;
    }
    return { files: held.map((entry) => entry.file), release };
  }

  /** Forgets a deleted table's files (and removes them). */
  async removeTable(tableId: string): Promise<void> {
    for (const [key, entry] of this.entries) if (key.startsWith(`${tableId}/`)) this.drop(key, entry);
    await rm(this.tableDir(tableId), { recursive: true, force: true });
  }

  private drop(key: string, entry: Entry): void {
    if (this.entries.get(key) !== entry) return;
    this.entries.delete(key);
    this.used -= entry.bytes;
    // At once, not later: a query may fetch the same key again right away, to the same path.
    rmSync(entry.file, { force: true });
    // Directories are kept, even empty: another query may be about to download into one.
  }

  private evict(): void {
    for (const [key, entry] of this.entries) {
      if (this.used <= this.maxBytes) return;
      if (entry.pins === 0) this.drop(key, entry);
    }
  }
}

/** Keys come from the catalog; one that could climb out of the cache is refused, not followed. */
function checkedKey(key: string): string {
  const parts = key.split('/');
  if (parts.some((part) => part === '' || part === '.' || part === '..') || key.includes('\\')) {
    throw new QueryError(`partition path ${JSON.stringify(key)} in the catalog is not a plain relative path: the catalog was altered by hand`);
  }
  return key;
}
