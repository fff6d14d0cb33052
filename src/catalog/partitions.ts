import { compiledOnce } from './compiled.js';
import type { Catalog, CatalogDb } from './db.js';
import type { PartitionRow } from './schema.js';

const overlapping = compiledOnce((db: CatalogDb, tableId: string, fromMs: number, toMs: number) =>
  db
    .selectFrom('partitions')
    .selectAll('partitions')
    .select((eb) => eb.selectFrom('tables').select('partition_count').where('tables.id', '=', tableId).as('considered'))
    .where('table_id', '=', tableId)
    .where('undone_at_ms', 'is', null)
    .where('max_ts_ms', '>=', fromMs)
    .where('min_ts_ms', '<=', toMs)
    // Redundant with the line above but for the index: it bounds the scan from below too.
    .where('min_ts_ms', '>=', (eb) => eb(eb.val(fromMs), '-', eb.selectFrom('tables').select('max_partition_span_ms').where('tables.id', '=', tableId)))
    .orderBy('min_ts_ms'),
);

/**
 * The partitions overlapping [fromMs, toMs] (either end may be open), and how many the table
 * has in all (what a query considers before pruning), in one query unless none overlaps.
 */
export async function prunedPartitions(c: Catalog, tableId: string, range: { fromMs?: number; toMs?: number }): Promise<{ considered: number; partitions: PartitionRow[] }> {
  const rows = await overlapping(c.db, tableId, range.fromMs ?? Number.MIN_SAFE_INTEGER, range.toMs ?? Number.MAX_SAFE_INTEGER);
  if (rows.length === 0) return { considered: await countTablePartitions(c, tableId), partitions: [] };
  return { considered: Number(rows[0]!.considered), partitions: rows.map(({ considered: _, ...partition }) => partition) };
}

/** How many committed partitions a table has: what a query considers before pruning by time. */
export async function countTablePartitions(c: Catalog, tableId: string): Promise<number> {
  const row = await c.db.selectFrom('tables').select('partition_count').where('id', '=', tableId).executeTakeFirst();
  return Number(row?.partition_count ?? 0);
}

/** The storages a table's committed partitions are in (null: the local default). */
export async function tableStorageIds(c: Catalog, tableId: string): Promise<(string | null)[]> {
  const rows = await c.db.selectFrom('partitions').select('storage_id').distinct().where('table_id', '=', tableId).execute();
  return rows.map((r) => r.storage_id);
}

/**
 * `<table id>/<task id>-<attempt>` of every attempt with a committed partition, so a sweep can
 * tell orphans (from attempts that never committed) apart.
 */
export async function committedAttempts(c: Catalog): Promise<Set<string>> {
  // An attempt whose every row was rejected committed quarantine files only.
  const rows = await c.db.selectFrom('partitions').select('path').distinct().union(c.db.selectFrom('quarantine').select('path')).execute();
  return new Set(rows.map((r) => r.path.split(/[\\/]/).slice(0, 2).join('/')));
}

/** `<task id>-<attempt>` of every task attempt that may still be writing (RUNNING). */
export async function runningAttempts(c: Catalog): Promise<Set<string>> {
  const rows = await c.db.selectFrom('tasks').select(['id', 'attempts']).where('state', '=', 'RUNNING').execute();
  return new Set(rows.map((r) => `${r.id}-${r.attempts}`));
}

/**
 * Forgets partitions undone before `cutoffMs`: no query that started before their undo can
 * still be reading them, and without their rows the sweeper removes their files as it removes
 * any attempt's that is not committed.
 */
export async function forgetUndonePartitions(c: Catalog, cutoffMs: number): Promise<number> {
  const result = await c.db.deleteFrom('partitions').where('undone_at_ms', 'is not', null).where('undone_at_ms', '<', cutoffMs).executeTakeFirst();
  await c.db.deleteFrom('quarantine').where('undone_at_ms', 'is not', null).where('undone_at_ms', '<', cutoffMs).execute();
  return Number(result.numDeletedRows);
}
