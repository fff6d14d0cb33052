import type { DuckDBConnection } from '@duckdb/node-api';
import { untilAborted } from '../duckdb/engine.js';
import { SourceError, ValidationError } from '../errors.js';
import { quoteLiteral } from './compile.js';
import type { CheckedSqlTransform } from './model.js';
import { isAllowedFunction } from './sql-functions.js';

/**
 * The reserved name `{STREAM}` is bound to before the text is parsed: the checked SELECT reads
 * this relation and nothing else, and whoever runs it defines it (a view of the converted rows,
 * or an empty table of their schema when the transform is saved).
 */
export const STREAM_RELATION = '__inlet_stream';

const FIELD = 'settings.sql_transform';

/** Expression kinds a row-wise SELECT needs; anything else (parameters, DEFAULT, ...) is refused. */
const EXPRESSION_CLASSES = new Set(['CONSTANT', 'COLUMN_REF', 'FUNCTION', 'WINDOW', 'CASE', 'CAST', 'COMPARISON', 'CONJUNCTION', 'OPERATOR', 'BETWEEN', 'STAR', 'LAMBDA', 'SUBQUERY', 'COLLATE', 'POSITIONAL_REFERENCE']);

/** Table reference kinds that are no FROM clause at all, a parenthesised SELECT, or VALUES. */
const NESTED_TABLE_REFS = new Set(['EMPTY', 'SUBQUERY', 'EXPRESSION_LIST']);
const QUERY_NODES = new Set(['SELECT_NODE', 'SET_OPERATION_NODE', 'RECURSIVE_CTE_NODE', 'CTE_NODE']);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const refuse = (problem: string): never => {
  throw new ValidationError(`${FIELD} ${problem}: a sql_transform is one SELECT over {STREAM} (such as "SELECT * REPLACE (lower(host) AS host) FROM {STREAM} WHERE status <> 0")`);
};

/**
 * Walks DuckDB's parse tree of the SELECT and refuses whatever could reach beyond the converted
 * rows: every table reference must be the stream or a CTE in scope, and every function must be
 * on the allow-list. `scope` holds the CTE names visible at this point.
 */
class TreeCheck {
  node(node: Json | undefined, scope: ReadonlySet<string>): void {
    if (!isObject(node)) return refuse('has a part Inlet cannot check');
    if (node.type !== 'SELECT_NODE') {
      return refuse(node.type === 'SET_OPERATION_NODE' ? 'combines SELECTs (UNION, EXCEPT, INTERSECT)' : node.type === 'RECURSIVE_CTE_NODE' ? 'has a recursive CTE' : `has a ${String(node.type)}`);
    }
    const visible = new Set(scope);
    const ctes = isObject(node.cte_map) && Array.isArray(node.cte_map.map) ? node.cte_map.map : [];
    for (const entry of ctes) {
      // A CTE sees the CTEs before it, never itself: DuckDB would resolve its own name elsewhere.
      if (!isObject(entry) || typeof entry.key !== 'string' || !isObject(entry.value) || !isObject(entry.value.query)) return refuse('has a CTE Inlet cannot check');
      this.node(entry.value.query.node, visible);
      visible.add(entry.key.toLowerCase());
    }
    this.tableRef(node.from_table, visible);
    for (const [key, value] of Object.entries(node)) {
      if (key !== 'cte_map' && key !== 'from_table' && key !== 'type') this.any(value, visible);
    }
  }

  tableRef(ref: Json | undefined, scope: ReadonlySet<string>): void {
    if (!isObject(ref)) return refuse('has a FROM clause Inlet cannot check');
    if (ref.type === 'BASE_TABLE') {
      const name = typeof ref.table_name === 'string' ? ref.table_name : '';
      const qualified = Boolean(ref.schema_name) || Boolean(ref.catalog_name) || ref.at_clause != null;
      if (qualified || (name.toLowerCase() !== STREAM_RELATION && !scope.has(name.toLowerCase()))) {
        return refuse(`reads ${JSON.stringify([ref.catalog_name, ref.schema_name, name].filter(Boolean).join('.'))}: it may read only {STREAM} (and CTEs defined over it)`);
      }
    } else if (ref.type === 'JOIN') {
      return refuse('joins relations: it maps the rows of {STREAM} one by one');
    } else if (ref.type === 'TABLE_FUNCTION') {
      const call = isObject(ref.function) && typeof ref.function.function_name === 'string' ? `${ref.function.function_name}(...)` : 'a table function';
      return refuse(`calls the table function ${call}: it may read only {STREAM}`);
    } else if (typeof ref.type !== 'string' || !NESTED_TABLE_REFS.has(ref.type)) {
      return refuse(`reads from a ${String(ref.type)}`);
    }
    for (const [key, value] of Object.entries(ref)) {
      if (key !== 'type') this.any(value, scope);
    }
  }

  expression(e: JsonObject, scope: ReadonlySet<string>): void {
    const kind = String(e.class);
    if (!EXPRESSION_CLASSES.has(kind)) return refuse(`uses a ${kind.toLowerCase().replaceAll('_', ' ')} expression`);
    if (kind === 'FUNCTION' || kind === 'WINDOW') {
      const name = String(e.function_name);
      // DuckDB's parser itself writes a list, struct or map literal ([1, 2], {'a': 1}, MAP {...})
      // as a call of main.list_value, main.struct_pack or main.map: `main` alone names the same functions.
      const qualifier = [e.catalog, e.schema].filter(Boolean).join('.');
      if (qualifier && qualifier !== 'main') return refuse(`calls ${JSON.stringify(`${qualifier}.${name}`)}: call functions by their plain name`);
      if (!isAllowedFunction(name)) return refuse(`calls ${name}(), which is not on the list of functions a sql_transform may use (docs/transforms.md)`);
    }
    for (const value of Object.values(e)) this.any(value, scope);
  }

  /** Any other part of the tree: expressions, query nodes and table references are found wherever they sit. */
  any(value: Json | undefined, scope: ReadonlySet<string>): void {
    if (Array.isArray(value)) return value.forEach((v) => this.any(v, scope));
    if (!isObject(value)) return;
    if (typeof value.class === 'string') return this.expression(value, scope);
    if (typeof value.type === 'string' && QUERY_NODES.has(value.type)) return this.node(value, scope);
    if (typeof value.type === 'string' && (value.type === 'BASE_TABLE' || value.type === 'JOIN' || value.type === 'TABLE_FUNCTION' || value.type.endsWith('_REF'))) return this.tableRef(value, scope);
    for (const v of Object.values(value)) this.any(v, scope);
  }
}

/** DuckDB's parse tree of `sql`, which must be exactly one SELECT statement. */
async function parseOneSelect(parser: DuckDBConnection, sql: string): Promise<JsonObject> {
  let tree: Json;
  try {
    const reader = await parser.runAndReadAll(`SELECT json_serialize_sql(${quoteLiteral(sql)}) AS tree`);
    tree = JSON.parse(String(reader.getRowObjectsJS()[0]!.tree)) as Json;
  } catch (err) {
    return refuse(`cannot be parsed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  if (!isObject(tree)) return refuse('cannot be parsed');
  if (tree.error === true) {
    const message = String(tree.error_message);
    return refuse(message.startsWith('Only SELECT') ? 'is not a SELECT (SET, PRAGMA, ATTACH, COPY, PIVOT and other statements are refused)' : `cannot be parsed: ${message}`);
  }
  const statements = Array.isArray(tree.statements) ? tree.statements : [];
  if (statements.length !== 1) return refuse(`holds ${statements.length} statements, not one`);
  const statement = statements[0]!;
  if (!isObject(statement) || !isObject(statement.node)) return refuse('cannot be parsed');
  new TreeCheck().node(statement.node, new Set());
  return statement;
}

/**
 * Parses a sql_transform with DuckDB's own parser, checks its tree, and returns the SELECT that
 * DuckDB regenerates from that tree. The user's text never runs: the regenerated SQL is parsed
 * and checked again, so what runs is exactly what was checked.
 */
export async function parseSqlTransform(parser: DuckDBConnection, text: string): Promise<CheckedSqlTransform> {
  if (!text.includes('{STREAM}')) refuse('does not read {STREAM}');
  await parseOneSelect(parser, text.replaceAll('{STREAM}', STREAM_RELATION));
  let select: string;
  try {
    const reader = await parser.runAndReadAll(`SELECT json_deserialize_sql(json_serialize_sql(${quoteLiteral(text.replaceAll('{STREAM}', STREAM_RELATION))})) AS sql`);
    select = String(reader.getRowObjectsJS()[0]!.sql);
  } catch (err) {
    return refuse(`uses a construct Inlet cannot regenerate from DuckDB's parse tree (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
  }
  await parseOneSelect(parser, select);
  return { select };
}

/**
 * Runs a checked sql_transform into `table` over `stream` (a SELECT of the rows it reads): the
 * stream is a temp view of the reserved name, so the user's SELECT is never spliced into ours.
 * Past `limitMs` its statement is interrupted: a SELECT whose work grows with the square or the
 * cube of the rows (a correlated subquery) would hold a worker slot for hours.
 */
export async function runSqlTransform(connection: DuckDBConnection, sql: CheckedSqlTransform, stream: string, table: string, limitMs?: number): Promise<void> {
  await connection.run(`CREATE OR REPLACE TEMP VIEW ${STREAM_RELATION} AS ${stream}`);
  const run = () => connection.run(`CREATE TEMP TABLE ${table} AS ${sql.select}`);
  if (limitMs === undefined) return void (await run());
  const timeout = AbortSignal.timeout(limitMs);
  try {
    await untilAborted(connection, timeout, run);
  } catch (err) {
    if (!timeout.aborted) throw err;
    throw new SqlTransformTimeError(
      `settings.sql_transform ran for more than ${limitMs / 1000} s (INLET_SQL_TRANSFORM_TIMEOUT_SECONDS) on one chunk of rows: make it cheaper (a subquery over {STREAM} per row grows with the square of the rows)`,
      { cause: err },
    );
  }
}

/** A sql_transform ran past its time limit: the same rows would take as long again, so the task fails. */
export class SqlTransformTimeError extends SourceError {}
