import { QueryError } from '../errors.js';

export const OUTPUT_FORMATS = ['TabSeparated', 'TSV', 'JSON'] as const;
export type OutputFormat = 'TabSeparated' | 'JSON';

/** Splits a trailing ClickHouse `FORMAT name` clause (and semicolon) off the SQL. */
export function splitFormat(text: string): { sql: string; format: OutputFormat } {
  let sql = text.trim().replace(/;\s*$/, '');
  let format: OutputFormat = 'TabSeparated';
  const match = /\bFORMAT\s+([A-Za-z]+)\s*$/i.exec(sql);
  if (match) {
    const name = match[1]!;
    const known = OUTPUT_FORMATS.find((f) => f.toLowerCase() === name.toLowerCase());
    if (!known) throw new QueryError(`Unknown output format ${name}: use ${OUTPUT_FORMATS.join(', ')} (UNKNOWN_FORMAT)`);
    format = known === 'JSON' ? 'JSON' : 'TabSeparated';
    sql = sql.slice(0, match.index).trim();
  }
  if (sql === '') throw new QueryError('Empty query: send a SELECT statement as the request body or the query parameter');
  return { sql, format };
}

export interface TableRef {
  readonly project: string;
  readonly table: string;
}

/**
 * The `project.table` names a statement reads, found by DuckDB's own parser (json_serialize_sql
 * serializes only SELECT statements, which also refuses every other kind of statement).
 */
export function tableRefs(serialized: string): TableRef[] {
  const parsed = JSON.parse(serialized) as { error: boolean; error_message?: string; statements?: unknown[] };
  if (parsed.error) {
    const message = parsed.error_message ?? 'cannot parse the query';
    throw new QueryError(/Only SELECT/i.test(message) ? 'Only SELECT queries are allowed (READONLY)' : `Syntax error: ${message} (SYNTAX_ERROR)`);
  }
  if ((parsed.statements ?? []).length !== 1) throw new QueryError('Send exactly one SELECT statement (SYNTAX_ERROR)');
  const refs = new Map<string, TableRef>();
  const ctes = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (typeof node !== 'object' || node === null) return;
    const n = node as Record<string, unknown>;
    if (n.type === 'BASE_TABLE' && typeof n.table_name === 'string') {
      const schema = typeof n.schema_name === 'string' ? n.schema_name : '';
      if (schema === '' && ctes.has(n.table_name)) return;
      if (schema === '') throw new QueryError(`Table ${n.table_name} doesn't exist: name tables as project.table (UNKNOWN_TABLE)`);
      refs.set(`${schema}.${n.table_name}`, { project: schema, table: n.table_name });
    }
    const cteMap = (n.cte_map as { map?: { key: string }[] } | undefined)?.map;
    for (const entry of cteMap ?? []) ctes.add(entry.key);
    Object.values(n).forEach(walk);
  };
  walk(parsed.statements);
  return [...refs.values()];
}
