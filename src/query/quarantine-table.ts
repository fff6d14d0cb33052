import type { Catalog } from '../catalog/db.js';
import { tableQuarantine } from '../catalog/quarantine.js';
import type { PartitionRow, TableRow } from '../catalog/schema.js';
import { QUARANTINE_COLUMNS } from '../ingest/quarantine.js';
import type { PartitionStorage } from '../storage/storage.js';
import { quoteIdent } from '../transform/compile.js';
import type { TableRef } from './ast.js';
import type { SandboxTable } from './sandbox.js';

/** `project.table#rejects` names the quarantine of `project.table`: its rejected records. */
export const REJECTS_SUFFIX = '#rejects';

/** The table whose quarantine a name reads, or undefined for a table's own rows. */
export const quarantinedTable = (ref: TableRef): string | undefined => (ref.table.endsWith(REJECTS_SUFFIX) && ref.table.length > REJECTS_SUFFIX.length ? ref.table.slice(0, -REJECTS_SUFFIX.length) : undefined);

/** Every quarantine file has these columns: one schema, read without unifying. */
const QUARANTINE_SCHEMA_KEY = 'quarantine';

/** The quarantine's view in a sandbox: beside the table's partitions, so below the same directory. */
export function quarantineSandbox(storage: PartitionStorage, ref: TableRef, row: TableRow): SandboxTable {
  const select = QUARANTINE_COLUMNS.map((c) => `NULL::${c.type} AS ${quoteIdent(c.name)}`).join(', ');
  return { id: `${row.id}${REJECTS_SUFFIX}`, schema: ref.project, name: ref.table, dir: storage.readableDir(row), emptySelect: `SELECT ${select} WHERE false` };
}

/** The quarantine files a query reads, as the partitions of a table without time (none is pruned). */
export async function quarantinePartitions(catalog: Catalog, tableId: string): Promise<{ considered: number; partitions: PartitionRow[] }> {
  const files = await tableQuarantine(catalog, tableId);
  return { considered: files.length, partitions: files.map((q) => ({ ...q, min_ts_ms: 0, max_ts_ms: 0, schema_key: QUARANTINE_SCHEMA_KEY })) };
}
