import type { DuckDBType } from '@duckdb/node-api';

/** ClickHouse's names for DuckDB's types, so clients that read `meta` see what Hydrolix would send. */
const CLICKHOUSE_TYPES: Record<string, string> = {
  BOOLEAN: 'Bool',
  TINYINT: 'Int8',
  SMALLINT: 'Int16',
  INTEGER: 'Int32',
  BIGINT: 'Int64',
  HUGEINT: 'Int128',
  UTINYINT: 'UInt8',
  USMALLINT: 'UInt16',
  UINTEGER: 'UInt32',
  UBIGINT: 'UInt64',
  UHUGEINT: 'UInt128',
  FLOAT: 'Float32',
  DOUBLE: 'Float64',
  VARCHAR: 'String',
  DATE: 'Date',
  TIMESTAMP: 'DateTime',
  'TIMESTAMP WITH TIME ZONE': 'DateTime',
  TIMESTAMP_MS: 'DateTime64(3)',
};

export const clickhouseType = (type: DuckDBType): string => CLICKHOUSE_TYPES[type.toString()] ?? type.toString();

export interface QueryResult {
  readonly names: readonly string[];
  readonly types: readonly DuckDBType[];
  /** Values as DuckDB's JSON conversion gives them: 64-bit integers and timestamps are strings. */
  readonly rows: readonly (readonly unknown[])[];
  readonly elapsedSeconds: number;
  readonly rowsRead: number;
  readonly bytesRead: number;
}

function tsvValue(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text.replace(/[\\\t\n\r\0\b\f]/g, (ch) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0', '\b': '\\b', '\f': '\\f' })[ch]!);
}

/** TabSeparated as ClickHouse prints it: escaped values, \N for NULL, a newline after every row. */
export function toTabSeparated(result: QueryResult): string {
  return result.rows.map((row) => row.map(tsvValue).join('\t') + '\n').join('');
}

/** ClickHouse's FORMAT JSON: meta, data, rows, statistics. */
export function toJson(result: QueryResult): string {
  return JSON.stringify(
    {
      meta: result.names.map((name, i) => ({ name, type: clickhouseType(result.types[i]!) })),
      data: result.rows.map((row) => Object.fromEntries(result.names.map((name, i) => [name, row[i] ?? null]))),
      rows: result.rows.length,
      statistics: { elapsed: result.elapsedSeconds, rows_read: result.rowsRead, bytes_read: result.bytesRead },
    },
    null,
    '\t',
  );
}
