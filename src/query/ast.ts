import { QueryError } from '../errors.js';
import { UNINTERRUPTIBLE_FUNCTIONS } from '../transform/sql-functions.js';

/**
 * Reading DuckDB's own parse of a statement (json_serialize_sql): which `project.table`s it
 * reads, and which bounds its WHERE clauses put on their primary timestamps.
 */
type Node = Record<string, unknown>;

export interface TableRef {
  readonly project: string;
  readonly table: string;
}
export const refKey = (ref: TableRef) => `${ref.project}.${ref.table}`;

/** One side of a time range: the primary column compared with `expr`, a constant expression. */
export interface TimeBound {
  readonly side: 'lower' | 'upper';
  /** `>` or `<`: the bound itself is excluded. */
  readonly strict: boolean;
  readonly expr: unknown;
}

/** The parsed statement; json_serialize_sql serializes only SELECT, which refuses every other kind. */
export function parseSerialized(serialized: string): Node {
  // "No location" is 2^64-1, which a JS number cannot hold; written back rounded, DuckDB refuses it.
  const parsed = JSON.parse(serialized.replaceAll('"query_location":18446744073709551615', '"query_location":0')) as { error: boolean; error_message?: string; statements?: Node[] };
  if (parsed.error) {
    const message = parsed.error_message ?? 'cannot parse the query';
    throw new QueryError(/Only SELECT/i.test(message) ? 'Only SELECT queries are allowed (READONLY)' : `Syntax error: ${message} (SYNTAX_ERROR)`);
  }
  if ((parsed.statements ?? []).length !== 1) throw new QueryError('Send exactly one SELECT statement (SYNTAX_ERROR)');
  return parsed.statements![0]!;
}

const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null && !Array.isArray(value);

function walk(node: unknown, visit: (n: Node) => void): void {
  if (Array.isArray(node)) return node.forEach((child) => walk(child, visit));
  if (!isNode(node)) return;
  visit(node);
  Object.values(node).forEach((child) => walk(child, visit));
}

function cteNames(statement: Node): Set<string> {
  const names = new Set<string>();
  walk(statement, (n) => {
    for (const entry of (n.cte_map as { map?: { key: string }[] } | undefined)?.map ?? []) names.add(entry.key.toLowerCase());
  });
  return names;
}

/** Every base table the statement names, as `project.table` (a bare name must be a CTE). */
function baseTables(statement: Node): { node: Node; ref: TableRef }[] {
  const ctes = cteNames(statement);
  const tables: { node: Node; ref: TableRef }[] = [];
  walk(statement, (n) => {
    if (n.type !== 'BASE_TABLE' || typeof n.table_name !== 'string') return;
    const schema = typeof n.schema_name === 'string' ? n.schema_name : '';
    if (schema === '' && ctes.has(n.table_name.toLowerCase())) return;
    if (schema === '') throw new QueryError(`Table ${n.table_name} doesn't exist: name tables as project.table (UNKNOWN_TABLE)`);
    if (typeof n.catalog_name === 'string' && n.catalog_name !== '') throw new QueryError(`Table ${n.catalog_name}.${schema}.${n.table_name} doesn't exist: name tables as project.table (UNKNOWN_TABLE)`);
    tables.push({ node: n, ref: { project: schema, table: n.table_name } });
  });
  return tables;
}

/**
 * Functions a query may not call, though the sandbox would let them run: those reading files by
 * name (the sandbox can read its tables' directories, which hold partitions not yet committed or
 * already undone: a table is read only through its name, pruned to committed partitions), those
 * running SQL built from text or reading variables (which hold the pruned files' paths), and
 * those DuckDB cannot interrupt (UNINTERRUPTIBLE_FUNCTIONS). `duckdb_` and `pragma_` functions
 * read the catalog and the settings.
 */
const REFUSED_FUNCTIONS = new Set([
  ...UNINTERRUPTIBLE_FUNCTIONS,
  'read_parquet',
  'parquet_scan',
  'read_csv',
  'read_csv_auto',
  'sniff_csv',
  'read_json',
  'read_json_auto',
  'read_json_objects',
  'read_json_objects_auto',
  'read_ndjson',
  'read_ndjson_auto',
  'read_ndjson_objects',
  'read_text',
  'read_blob',
  'glob',
  'parquet_metadata',
  'parquet_schema',
  'parquet_file_metadata',
  'parquet_kv_metadata',
  'parquet_bloom_probe',
  'query',
  'query_table',
  'json_execute_serialized_sql',
  'getvariable',
  'which_secret',
]);
const REFUSED_PREFIXES = ['duckdb_', 'pragma_'];

/** Refuses a statement that calls a function of REFUSED_FUNCTIONS (as a table function too). */
export function refuseUnsafeCalls(statement: Node): void {
  walk(statement, (n) => {
    if (typeof n.function_name !== 'string') return;
    const name = n.function_name.toLowerCase();
    if (REFUSED_FUNCTIONS.has(name) || REFUSED_PREFIXES.some((prefix) => name.startsWith(prefix))) {
      throw new QueryError(`Function ${n.function_name} is not allowed in a query: tables are read by their names, and this function could read past them or run without end (ACCESS_DENIED)`);
    }
  });
}

export function tableRefs(statement: Node): TableRef[] {
  const refs = new Map<string, TableRef>();
  for (const { ref } of baseTables(statement)) refs.set(refKey(ref), ref);
  return [...refs.values()];
}

/** Functions whose value depends only on their arguments and the query's start time. */
const CONSTANT_FUNCTIONS = new Set([
  '+',
  '-',
  'now',
  'today',
  'yesterday',
  'current_timestamp',
  'get_current_timestamp',
  'current_date',
  'trunc',
  'to_years',
  'to_months',
  'to_weeks',
  'to_days',
  'to_hours',
  'to_minutes',
  'to_seconds',
  'to_milliseconds',
  'to_microseconds',
  'todatetime',
  'todate',
  'date_trunc',
  'time_bucket',
  'strptime',
  'make_timestamp',
  'to_timestamp',
  'epoch_ms',
  'tostartofinterval',
  'todatetime64',
  'fromunixtimestamp64milli',
  'fromunixtimestamp',
  'tostartofminute',
  'tostartoffiveminutes',
  'tostartoffiveminute',
  'tostartoftenminutes',
  'tostartoffifteenminutes',
  'tostartofhour',
  'tostartofday',
]);

function isConstant(node: unknown): boolean {
  if (!isNode(node)) return false;
  if (node.class === 'CONSTANT') return true;
  if (node.class === 'CAST') return isConstant(node.child);
  if (node.class === 'FUNCTION') {
    const orders = (node.order_bys as { orders?: unknown[] } | undefined)?.orders ?? [];
    return (
      typeof node.function_name === 'string' &&
      CONSTANT_FUNCTIONS.has(node.function_name.toLowerCase()) &&
      (node.schema === '' || node.schema === undefined) &&
      node.filter == null &&
      orders.length === 0 &&
      !node.distinct &&
      Array.isArray(node.children) &&
      node.children.every(isConstant)
    );
  }
  return false;
}

/** Functions whose value is the query's start time, or derived from it. */
const NOW_FUNCTIONS = new Set(['now', 'today', 'yesterday', 'current_timestamp', 'get_current_timestamp', 'current_date', 'transaction_timestamp']);

/** Whether a constant expression reads the clock, so it must be evaluated again for every query. */
export function readsClock(expr: unknown): boolean {
  let found = false;
  walk(expr, (n) => {
    if (n.class === 'FUNCTION' && typeof n.function_name === 'string' && NOW_FUNCTIONS.has(n.function_name.toLowerCase())) found = true;
  });
  return found;
}

/** Whether `node` names the primary column of the table read as `table` (by its alias or name). */
function isPrimaryColumn(node: unknown, table: Node, primary: string): boolean {
  if (!isNode(node) || node.class !== 'COLUMN_REF' || !Array.isArray(node.column_names)) return false;
  const names = (node.column_names as string[]).map((n) => n.toLowerCase());
  if (names.at(-1) !== primary.toLowerCase()) return false;
  const alias = String(table.alias ?? '').toLowerCase();
  const tableName = String(table.table_name).toLowerCase();
  const schemaName = String(table.schema_name).toLowerCase();
  if (names.length === 1) return true;
  if (names.length === 2) return names[0] === (alias || tableName);
  return names.length === 3 && alias === '' && names[0] === schemaName && names[1] === tableName;
}

const FLIPPED: Record<string, string> = {
  COMPARE_GREATERTHAN: 'COMPARE_LESSTHAN',
  COMPARE_GREATERTHANOREQUALTO: 'COMPARE_LESSTHANOREQUALTO',
  COMPARE_LESSTHAN: 'COMPARE_GREATERTHAN',
  COMPARE_LESSTHANOREQUALTO: 'COMPARE_GREATERTHANOREQUALTO',
  COMPARE_EQUAL: 'COMPARE_EQUAL',
};

/**
 * Bounds on the primary column from the AND-ed terms of a WHERE clause. Only a bare column
 * compared with a constant counts: OR, NOT, a function of the column, anything else bounds
 * nothing, so pruning never drops a partition the query could need.
 */
function whereBounds(where: unknown, table: Node, primary: string): TimeBound[] {
  if (!isNode(where)) return [];
  if (where.type === 'CONJUNCTION_AND') return (where.children as unknown[]).flatMap((c) => whereBounds(c, table, primary));
  if (where.class === 'BETWEEN' && where.type === 'COMPARE_BETWEEN' && isPrimaryColumn(where.input, table, primary)) {
    return [...(isConstant(where.lower) ? [{ side: 'lower' as const, strict: false, expr: where.lower }] : []), ...(isConstant(where.upper) ? [{ side: 'upper' as const, strict: false, expr: where.upper }] : [])];
  }
  if (where.class !== 'COMPARISON' || typeof where.type !== 'string' || !FLIPPED[where.type]) return [];
  let [type, value] = [where.type, where.right];
  if (!isPrimaryColumn(where.left, table, primary)) {
    if (!isPrimaryColumn(where.right, table, primary)) return [];
    [type, value] = [FLIPPED[where.type]!, where.left];
  }
  if (!isConstant(value)) return [];
  if (type === 'COMPARE_EQUAL')
    return [
      { side: 'lower', strict: false, expr: value },
      { side: 'upper', strict: false, expr: value },
    ];
  return [{ side: type.startsWith('COMPARE_GREATER') ? 'lower' : 'upper', strict: !type.endsWith('OREQUALTO'), expr: value }];
}

/**
 * For each table, the bounds of each place that reads it. A SELECT reading the table
 * directly in FROM is bounded by its WHERE; a table read anywhere else (a join, a subquery
 * in FROM of another shape) gets no bounds, which means all of its partitions.
 */
export function timeBounds(statement: Node, primaryOf: (ref: TableRef) => string): Map<string, TimeBound[][]> {
  const bounded = new Map<Node, TimeBound[]>();
  walk(statement, (n) => {
    const from = n.from_table;
    if (n.type !== 'SELECT_NODE' || !isNode(from) || from.type !== 'BASE_TABLE' || !from.schema_name) return;
    bounded.set(from, whereBounds(n.where_clause, from, primaryOf({ project: String(from.schema_name), table: String(from.table_name) })));
  });
  const uses = new Map<string, TimeBound[][]>();
  for (const { node, ref } of baseTables(statement)) {
    const list = uses.get(refKey(ref)) ?? [];
    list.push(bounded.get(node) ?? []);
    uses.set(refKey(ref), list);
  }
  return uses;
}

/** A SELECT of the given expressions, as SQL text DuckDB's json_deserialize_sql can rebuild. */
export function selectOf(template: Node, expressions: readonly unknown[]): string {
  return JSON.stringify({ error: false, statements: [{ ...template, node: { ...(template.node as Node), select_list: expressions } }] });
}
