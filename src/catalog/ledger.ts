import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { AlreadyLoadedError } from '../errors.js';
import { isoMicros } from '../time.js';
import type { CatalogDb } from './db.js';
import type { CatalogSchema } from './schema.js';

/** An object as a job sees it: the ledger matches URL, version and size. */
export interface LedgerObject {
  readonly url: string;
  readonly size: number;
  readonly version?: string | null;
}

/** URLs looked up in one query: well under SQLite's bound-parameter limit. */
const LOOKUP_BATCH = 500;

/**
 * The objects the table already loaded as they are now (same URL, version and size), each with
 * the job that loaded it. An object without a known version is never taken as loaded: nothing
 * would tell a rewritten one apart.
 */
export async function alreadyLoaded(db: CatalogDb | Transaction<CatalogSchema>, tableId: string, objects: readonly LedgerObject[]): Promise<Map<string, string>> {
  const loaded = new Map<string, string>();
  const known = objects.filter((o) => o.version !== undefined && o.version !== null);
  for (let i = 0; i < known.length; i += LOOKUP_BATCH) {
    const batch = known.slice(i, i + LOOKUP_BATCH);
    const wanted = new Map(batch.map((o) => [o.url, o]));
    const rows = await db
      .selectFrom('ledger')
      .select(['url', 'version', 'bytes', 'job_id'])
      .where('table_id', '=', tableId)
      .where('url', 'in', [...wanted.keys()])
      .orderBy('created')
      .execute();
    for (const row of rows) {
      const object = wanted.get(row.url)!;
      if (row.version === object.version && Number(row.bytes) === object.size && !loaded.has(row.url)) loaded.set(row.url, row.job_id);
    }
  }
  return loaded;
}

/**
 * Inside an INDEX task's commit: fails it when another job loaded one of its objects since the
 * listing (two jobs over one prefix at once), unless the job forces, and records what it loads.
 */
export async function recordLoaded(
  trx: Transaction<CatalogSchema>,
  entry: { tableId: string; jobId: string; taskId: string; force: boolean },
  files: readonly { url: string; bytes: number; version?: string | null; rows_written: number }[],
): Promise<void> {
  if (!entry.force) {
    const loaded = await alreadyLoaded(
      trx,
      entry.tableId,
      files.map((f) => ({ url: f.url, size: f.bytes, version: f.version })),
    );
    const [url, jobId] = [...loaded][0] ?? [];
    if (url !== undefined) {
      throw new AlreadyLoadedError(
        `${url} was loaded into this table by job ${jobId} while this job ran, so this task committed nothing (it would have loaded the object twice); run the job again with settings.force: true to load it anyway`,
      );
    }
  }
  const now = isoMicros();
  const rows = files.map((f) => ({
    id: randomUUID(),
    table_id: entry.tableId,
    url: f.url,
    version: f.version ?? null,
    bytes: f.bytes,
    job_id: entry.jobId,
    task_id: entry.taskId,
    rows_written: f.rows_written,
    created: now,
  }));
  for (let i = 0; i < rows.length; i += 300)
    await trx
      .insertInto('ledger')
      .values(rows.slice(i, i + 300))
      .execute();
}
