import type { DuckDBType } from '@duckdb/node-api';
import { storedColumns } from '../transform/compile.js';
import type { Transform, ValueType } from '../transform/model.js';
import type { TableRef } from './ast.js';
import type { Column } from './output.js';

/**
 * The ClickHouse type of each result column, as FORMAT JSON's `meta` and the WithNamesAndTypes
 * formats name it, and how its timestamps are printed so the values match that type.
 *
 * DuckDB's result types carry neither nullability nor the precision a timestamp was stored
 * with, so both come from the statement where it says: a column of a table (directly, through
 * `*`, or under min/max/any/argMax...) has the table's type, `Nullable(...)` unless it is the
 * primary timestamp; ClickHouse's DateTime functions (toStartOfHour, toDateTime, now, ...)
 * answer `DateTime`; counts answer `UInt64`. Any other expression is named by its DuckDB type,
 * never Nullable, and a DuckDB TIMESTAMP there is `DateTime64(6)`, DuckDB's own precision.
 */
type Node = Record<string, unknown>;

const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A result column's ClickHouse type, and for timestamps the digits of seconds' fractions its values print. */
export interface ClickHouseType {
  readonly name: string;
  /** 0 (DateTime), 3, 6, 9 (DateTime64(n)); 'date' prints a timestamp as a Date. */
  readonly time?: number | 'date';
  readonly nullable?: boolean;
  /** An Array's elements. */
  readonly element?: ClickHouseType;
}

const SCALAR_TYPES: Record<string, string> = {
  string: 'String',
  boolean: 'UInt8',
  int8: 'Int8',
  int32: 'Int32',
  int64: 'Int64',
  uint8: 'UInt8',
  uint32: 'UInt32',
  uint64: 'UInt64',
  double: 'Float64',
};

/** ClickHouse's type for a stored value: Hydrolix's datetime is DateTime, millisecond ones DateTime64(3). */
function storedType(v: ValueType): ClickHouseType {
  if (v.type === 'array') return arrayOf(storedType(v.elements[0]!));
  if (v.type === 'map') return { name: `Map(${storedType(v.elements[0]!).name}, ${storedType(v.elements[1]!).name})` };
  if (v.type === 'datetime' || v.type === 'datetime64' || v.type === 'epoch') return v.resolution === 'ms' ? { name: 'DateTime64(3)', time: 3 } : { name: 'DateTime', time: 0 };
  return { name: SCALAR_TYPES[v.type]! };
}

const arrayOf = (element: ClickHouseType): ClickHouseType => ({ name: `Array(${element.name})`, element });

const nullable = (t: ClickHouseType): ClickHouseType => (t.nullable || /^(Array|Map)\(/.test(t.name) ? t : { ...t, name: `Nullable(${t.name})`, nullable: true });

/** A table the statement reads, with what its transform says its columns are. */
export interface TypedTable {
  readonly ref: TableRef;
  readonly transform: Transform | undefined;
}

interface StoredColumn {
  readonly duckdb: string;
  readonly type: ClickHouseType;
}

/** A transform's stored columns, in order, with their ClickHouse types, as a query reads them. */
export function storedColumnTypes(transform: Transform): { name: string; type: ClickHouseType; primary: boolean }[] {
  return transform.columns.filter((c) => !c.ignore).map((c) => ({ name: c.name, type: c.primary ? storedType(c) : nullable(storedType(c)), primary: c.primary === true }));
}

function columnsOf(table: TypedTable): Map<string, StoredColumn> {
  const columns = new Map<string, StoredColumn>();
  if (!table.transform) return columns;
  const duckdb = new Map(storedColumns(table.transform).map((c) => [c.name, c.type]));
  for (const c of table.transform.columns) {
    if (c.ignore) continue;
    const type = storedType(c);
    columns.set(c.name.toLowerCase(), { duckdb: duckdb.get(c.name)!, type: c.primary ? type : nullable(type) });
  }
  return columns;
}

/** The tables a SELECT reads directly in its FROM (through joins, not into subqueries), by the names it may qualify columns with. */
function fromTables(from: unknown, tables: ReadonlyMap<string, Map<string, StoredColumn>>): { names: string[]; columns: Map<string, StoredColumn> }[] {
  if (!isNode(from)) return [];
  if (from.type === 'JOIN') return [...fromTables(from.left, tables), ...fromTables(from.right, tables)];
  if (from.type !== 'BASE_TABLE' || typeof from.schema_name !== 'string' || typeof from.table_name !== 'string') return [];
  const columns = tables.get(`${from.schema_name}.${from.table_name}`.toLowerCase());
  if (!columns) return [];
  const alias = typeof from.alias === 'string' && from.alias !== '' ? from.alias : from.table_name;
  return [{ names: [alias.toLowerCase()], columns }];
}

/** Functions whose value is a DateTime (whole seconds) in ClickHouse. */
const DATETIME_FUNCTIONS = new Set([
  'now',
  'todatetime',
  'fromunixtimestamp',
  'tostartofminute',
  'tostartoffiveminutes',
  'tostartoffiveminute',
  'tostartoftenminutes',
  'tostartoffifteenminutes',
  'tostartofhour',
  'tostartofday',
  'tostartofinterval',
]);
/** Functions whose value is a Date in ClickHouse, answered by DuckDB as a DATE or a TIMESTAMP. */
const DATE_FUNCTIONS = new Set(['todate', 'today', 'yesterday', 'tostartofmonth', 'tostartofyear', 'tostartofquarter', 'tomonday', 'tostartofweek']);
/** Aggregates and functions that answer a value of their first argument, with its type. */
const SAME_TYPE = new Set(['min', 'max', 'any_value', 'arbitrary', 'first', 'last', 'anylast', 'argmax', 'argmin', 'arg_max', 'arg_min', 'max_by', 'min_by']);
/** Counts, UInt64 in ClickHouse, BIGINT in DuckDB. */
const COUNTS = new Set(['count', 'count_star', 'countif', 'uniq', 'uniqexact', 'uniqif', 'uniqexactif']);
/** groupArray gathers its argument into an array: Array of its type. */
const ARRAYS_OF = new Set(['grouparray']);
/** INTERVAL n DAY/WEEK/MONTH/YEAR: added to a Date, ClickHouse keeps a Date. */
const WHOLE_DAY_INTERVALS = new Set(['to_days', 'to_weeks', 'to_months', 'to_years']);

type Scope = { names: string[]; columns: Map<string, StoredColumn> }[];

function columnRef(node: Node, scope: Scope): StoredColumn | undefined {
  const names = (node.column_names as string[]).map((n) => n.toLowerCase());
  const column = names.at(-1)!;
  const qualifier = names.length >= 2 ? names.at(-2)! : undefined;
  const holders = scope.filter((t) => (qualifier === undefined || t.names.includes(qualifier)) && t.columns.has(column));
  return holders.length === 1 ? holders[0]!.columns.get(column) : undefined;
}

const functionName = (node: Node) => (typeof node.function_name === 'string' ? node.function_name.toLowerCase() : '');
const children = (node: Node): unknown[] => (Array.isArray(node.children) ? node.children : []);

/** What the statement says of an expression's type, if anything; `duckdb` is its result type. */
function expressionType(expr: unknown, duckdb: string, scope: Scope): ClickHouseType | undefined {
  if (!isNode(expr)) return undefined;
  if (expr.class === 'COLUMN_REF' && Array.isArray(expr.column_names)) {
    const stored = columnRef(expr, scope);
    return stored && stored.duckdb === duckdb ? stored.type : undefined;
  }
  if (expr.class !== 'FUNCTION') return undefined;
  const name = functionName(expr);
  const args = children(expr);
  if (SAME_TYPE.has(name)) return expressionType(args[0], duckdb, scope);
  if (COUNTS.has(name) && duckdb === 'BIGINT') return { name: 'UInt64' };
  if (ARRAYS_OF.has(name) && duckdb.endsWith('[]')) {
    // NULLs are left out, so the elements are of the argument's type without Nullable.
    const element = expressionType(args[0], duckdb.slice(0, -2), scope);
    return element ? arrayOf(element.nullable ? { ...element, name: element.name.replace(/^Nullable\((.*)\)$/, '$1'), nullable: false } : element) : undefined;
  }
  const timestamp = duckdb === 'TIMESTAMP' || duckdb === 'TIMESTAMP WITH TIME ZONE';
  const fromArgument = expressionType(args[0], 'TIMESTAMP', scope);
  const keepNull = (t: ClickHouseType) => (fromArgument?.nullable ? nullable(t) : t);
  if (timestamp && DATETIME_FUNCTIONS.has(name)) return keepNull({ name: 'DateTime', time: 0 });
  if (timestamp && DATE_FUNCTIONS.has(name)) return keepNull({ name: 'Date', time: 'date' });
  if (timestamp && name === 'todatetime64') {
    const scale = isNode(args[1]) && args[1].class === 'CONSTANT' ? Number((args[1].value as { value?: unknown }).value) : NaN;
    return Number.isInteger(scale) && scale >= 0 && scale <= 9 ? keepNull({ name: `DateTime64(${scale})`, time: Math.min(scale, 6) }) : undefined;
  }
  if (timestamp && name === 'fromunixtimestamp64milli') return { name: 'DateTime64(3)', time: 3 };
  if (timestamp && (name === '+' || name === '-') && args.length === 2) {
    // A timestamp plus or minus an interval keeps the timestamp's type; a Date plus whole days stays a Date.
    const [left, right] = args;
    const interval = isNode(right) && right.class === 'FUNCTION' ? functionName(right) : '';
    const base = dateOf(left, scope) ?? expressionType(left, 'TIMESTAMP', scope);
    if (base?.time === 'date') return WHOLE_DAY_INTERVALS.has(interval) ? base : { name: 'DateTime', time: 0, nullable: base.nullable };
    return base;
  }
  return undefined;
}

/** A Date-valued expression (which DuckDB answers as DATE), as ClickHouse types it. */
function dateOf(expr: unknown, scope: Scope): ClickHouseType | undefined {
  if (!isNode(expr) || expr.class !== 'FUNCTION' || !DATE_FUNCTIONS.has(functionName(expr))) return undefined;
  const fromArgument = expressionType(children(expr)[0], 'TIMESTAMP', scope);
  return fromArgument?.nullable ? nullable({ name: 'Date', time: 'date' }) : { name: 'Date', time: 'date' };
}

/** ClickHouse's names for DuckDB's types, for expressions the statement says nothing more of. */
const CLICKHOUSE_TYPES: Record<string, ClickHouseType> = {
  BOOLEAN: { name: 'Bool' },
  TINYINT: { name: 'Int8' },
  SMALLINT: { name: 'Int16' },
  INTEGER: { name: 'Int32' },
  BIGINT: { name: 'Int64' },
  HUGEINT: { name: 'Int128' },
  UTINYINT: { name: 'UInt8' },
  USMALLINT: { name: 'UInt16' },
  UINTEGER: { name: 'UInt32' },
  UBIGINT: { name: 'UInt64' },
  UHUGEINT: { name: 'UInt128' },
  FLOAT: { name: 'Float32' },
  DOUBLE: { name: 'Float64' },
  VARCHAR: { name: 'String' },
  UUID: { name: 'UUID' },
  DATE: { name: 'Date' },
  TIMESTAMP_S: { name: 'DateTime', time: 0 },
  TIMESTAMP_MS: { name: 'DateTime64(3)', time: 3 },
  TIMESTAMP: { name: 'DateTime64(6)', time: 6 },
  'TIMESTAMP WITH TIME ZONE': { name: 'DateTime64(6)', time: 6 },
  TIMESTAMP_NS: { name: 'DateTime64(9)', time: 9 },
};

/** ClickHouse's type for a DuckDB type alone. */
export function clickhouseType(type: DuckDBType | string): ClickHouseType {
  const name = type.toString();
  const known = CLICKHOUSE_TYPES[name];
  if (known) return known;
  const decimal = /^DECIMAL\((\d+),(\d+)\)$/.exec(name);
  if (decimal) return { name: `Decimal(${decimal[1]}, ${decimal[2]})` };
  if (name.endsWith('[]')) return arrayOf(clickhouseType(name.slice(0, -2)));
  return { name };
}

/**
 * The result's columns with their ClickHouse types. `statement` is DuckDB's parse of the SQL
 * that ran; the select list is matched to the result's columns one to one, or, with a `*` in
 * it, by name to the columns of the one table the SELECT reads.
 */
export function resultColumns(statement: Node | undefined, tables: readonly TypedTable[], names: readonly string[], types: readonly DuckDBType[]): Column[] {
  const select = isNode(statement?.node) && statement.node.type === 'SELECT_NODE' ? statement.node : undefined;
  const byTable = new Map(tables.map((t) => [`${t.ref.project}.${t.ref.table}`.toLowerCase(), columnsOf(t)]));
  const scope = select ? fromTables(select.from_table, byTable) : [];
  const list = Array.isArray(select?.select_list) ? (select.select_list as unknown[]) : [];
  const star = list.some((e) => isNode(e) && e.class === 'STAR');
  return names.map((name, i) => {
    const duckdb = types[i]!.toString();
    let said: ClickHouseType | undefined;
    if (!star && list.length === names.length) said = expressionType(list[i], duckdb, scope);
    else if (star && scope.length === 1) {
      const stored = scope[0]!.columns.get(name.toLowerCase());
      said = stored && stored.duckdb === duckdb ? stored.type : undefined;
    }
    return { name, type: types[i]!, clickhouse: said ?? clickhouseType(duckdb) };
  });
}
