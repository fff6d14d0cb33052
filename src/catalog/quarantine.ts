import type { Catalog } from './db.js';
import type { QuarantineRow } from './schema.js';

/** The quarantine files of a table that queries read: committed and not undone. */
export async function tableQuarantine(c: Catalog, tableId: string): Promise<QuarantineRow[]> {
  return c.db.selectFrom('quarantine').selectAll().where('table_id', '=', tableId).where('undone_at_ms', 'is', null).orderBy('created').orderBy('path').execute();
}

/** A job's quarantine files (not undone), in a fixed order: what a `rejects://` source lists. */
export async function jobQuarantine(c: Catalog, jobId: string): Promise<QuarantineRow[]> {
  return c.db.selectFrom('quarantine').selectAll().where('job_id', '=', jobId).where('undone_at_ms', 'is', null).orderBy('path').execute();
}

/** One quarantine file of a job, if it is still there. */
export async function quarantineFile(c: Catalog, jobId: string, id: string): Promise<QuarantineRow | undefined> {
  return c.db.selectFrom('quarantine').selectAll().where('job_id', '=', jobId).where('id', '=', id).where('undone_at_ms', 'is', null).executeTakeFirst();
}

/** Rejected records a job's committed tasks kept so far: what max_quarantined_rows is checked against. */
export async function quarantinedRows(c: Catalog, jobId: string): Promise<number> {
  const row = await c.db
    .selectFrom('quarantine')
    .select((eb) => eb.fn.sum<number>('rows').as('n'))
    .where('job_id', '=', jobId)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}
