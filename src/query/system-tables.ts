import { createHash } from 'node:crypto';
import type { Catalog } from '../catalog/db.js';
import { orgSchema } from '../catalog/resources.js';
import type { ParsedTransforms } from '../catalog/parsed.js';
import { quoteIdent, quoteLiteral } from '../transform/compile.js';
import type { TableRef } from './ast.js';
import { storedColumnTypes } from './result-types.js';
import type { SandboxTable } from './sandbox.js';
import { SYSTEM_DATABASE, SYSTEM_SCHEMA, SYSTEM_TABLE_NAMES } from './system-names.js';

type Value = string | number;
interface SystemColumn {
  readonly name: string;
  /** DuckDB's type of the column in the sandbox. */
  readonly duckdb: 'VARCHAR' | 'UBIGINT' | 'UTINYINT';
}

const text = (name: string): SystemColumn => ({ name, duckdb: 'VARCHAR' });
/**
 * ClickHouse's `system.databases`, `system.tables` and `system.columns`, of the caller's org
 * only: what dashboards and SQL tools (Grafana's query builder, DBeaver, Metabase) read to list
 * databases, tables and columns. A project is a database. Each is a table of literal rows in
 * the query's sandbox, made from the catalog when the query is planned.
 */
const SYSTEM_TABLES: Record<(typeof SYSTEM_TABLE_NAMES)[number], readonly SystemColumn[]> = {
  databases: [text('name'), text('engine'), text('data_path'), text('metadata_path'), text('uuid'), text('comment')],
  tables: [
    text('database'),
    text('name'),
    text('uuid'),
    text('engine'),
    { name: 'is_temporary', duckdb: 'UTINYINT' },
    text('primary_key'),
    text('sorting_key'),
    { name: 'total_rows', duckdb: 'UBIGINT' },
    text('comment'),
  ],
  columns: [
    text('database'),
    text('table'),
    text('name'),
    text('type'),
    { name: 'position', duckdb: 'UBIGINT' },
    text('default_kind'),
    text('default_expression'),
    text('comment'),
    { name: 'is_in_primary_key', duckdb: 'UTINYINT' },
    { name: 'is_in_sorting_key', duckdb: 'UTINYINT' },
  ],
};

/** Whether a table reference names one of the system tables (as statement.ts renamed it). */
export const isSystemTable = (ref: TableRef): boolean => ref.project === SYSTEM_SCHEMA && SYSTEM_TABLE_NAMES.includes(ref.table);

/** The rows of each system table, for one org, as the catalog has them now. */
async function systemRows(catalog: Catalog, transforms: ParsedTransforms, orgId: string): Promise<Record<string, Value[][]>> {
  const { projects, tables } = await orgSchema(catalog, orgId);
  const own = Object.keys(SYSTEM_TABLES).map((name) => [SYSTEM_DATABASE, name, '', `System${name[0]!.toUpperCase()}${name.slice(1)}`, 0, '', '', 0, ''] as Value[]);
  const typed = tables.map((t) => ({ ...t, columns: t.transform ? storedColumnTypes(transforms.of(t.transform).transform) : [] }));
  const primaryOf = (columns: (typeof typed)[number]['columns']) => columns.find((c) => c.primary)?.name ?? '';
  return {
    databases: [[SYSTEM_DATABASE, 'Memory', '', '', '', ''], ...projects.map((p) => [p.name, 'Atomic', '', '', p.id, p.description ?? ''])],
    tables: [...own, ...typed.map((t) => [t.project, t.table.name, t.table.id, 'MergeTree', 0, primaryOf(t.columns), primaryOf(t.columns), 0, t.table.description ?? ''])],
    columns: [
      ...Object.entries(SYSTEM_TABLES).flatMap(([table, columns]) =>
        columns.map((c, i) => [SYSTEM_DATABASE, table, c.name, c.duckdb === 'VARCHAR' ? 'String' : c.duckdb === 'UBIGINT' ? 'UInt64' : 'UInt8', i + 1, '', '', '', 0, 0]),
      ),
      ...typed.flatMap((t) => t.columns.map((c, i) => [t.project, t.table.name, c.name, c.type.name, i + 1, '', '', '', c.primary ? 1 : 0, c.primary ? 1 : 0])),
    ],
  };
}

/** A SELECT of literal rows with the system table's columns (of no rows when there are none). */
function literalSelect(columns: readonly SystemColumn[], rows: readonly Value[][]): string {
  const typed = (value: Value, c: SystemColumn) => `${typeof value === 'number' ? String(value) : quoteLiteral(value)}::${c.duckdb}`;
  const names = columns.map((c) => quoteIdent(c.name));
  if (rows.length === 0) return `SELECT ${columns.map((c) => `NULL::${c.duckdb} AS ${quoteIdent(c.name)}`).join(', ')} WHERE false`;
  return `SELECT * FROM (VALUES ${rows.map((row) => `(${row.map((v, i) => typed(v, columns[i]!)).join(', ')})`).join(', ')}) AS t(${names.join(', ')})`;
}

/** The system table a reference names, as its sandbox view: rows of literals, and no files. */
export async function systemSandbox(catalog: Catalog, transforms: ParsedTransforms, orgId: string, ref: TableRef): Promise<SandboxTable> {
  const rows = (await systemRows(catalog, transforms, orgId))[ref.table]!;
  const select = literalSelect(SYSTEM_TABLES[ref.table]!, rows);
  // Named by its contents: the sandbox made for these rows is reused until the catalog changes them.
  const id = `${SYSTEM_DATABASE}.${ref.table}.${createHash('sha256').update(select).digest('hex').slice(0, 16)}`;
  return { id, schema: ref.project, name: ref.table, dir: undefined, emptySelect: select };
}
