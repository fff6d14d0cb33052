import type { DuckDBType } from '@duckdb/node-api';
import type { OutputFormat } from './statement.js';

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
  TIMESTAMP_S: 'DateTime',
  TIMESTAMP_MS: 'DateTime64(3)',
  TIMESTAMP_NS: 'DateTime64(9)',
};

export function clickhouseType(type: DuckDBType): string {
  const name = type.toString();
  if (CLICKHOUSE_TYPES[name]) return CLICKHOUSE_TYPES[name];
  const decimal = /^DECIMAL\((\d+),(\d+)\)$/.exec(name);
  if (decimal) return `Decimal(${decimal[1]}, ${decimal[2]})`;
  if (name.endsWith('[]')) return `Array(${clickhouseTypeName(name.slice(0, -2))})`;
  return name;
}
const clickhouseTypeName = (name: string) => CLICKHOUSE_TYPES[name] ?? name;

export interface Column {
  readonly name: string;
  readonly type: DuckDBType;
}

export interface Statistics {
  readonly elapsed: number;
  readonly rows_read: number;
  readonly bytes_read: number;
  /** Inlet's addition: partitions of the tables read, before and after time pruning. */
  readonly partitions_considered: number;
  readonly partitions_read: number;
}

/** A row as DuckDB's JSON conversion gives it: 64-bit integers, decimals and timestamps are strings. */
export type Row = readonly unknown[];

type Kind = 'quotedInteger' | 'decimal' | 'float' | 'string' | 'temporal' | 'zonedTemporal' | 'other';

function kindOf(type: DuckDBType): Kind {
  const name = type.toString();
  if (['BIGINT', 'UBIGINT', 'HUGEINT', 'UHUGEINT'].includes(name)) return 'quotedInteger';
  if (name.startsWith('DECIMAL')) return 'decimal';
  if (name === 'DOUBLE' || name === 'FLOAT') return 'float';
  if (name === 'VARCHAR') return 'string';
  if (name === 'TIMESTAMP WITH TIME ZONE') return 'zonedTemporal';
  if (name.startsWith('TIMESTAMP') || name === 'DATE' || name === 'TIME') return 'temporal';
  return 'other';
}

const FLOAT_WORDS: Record<string, string> = { NaN: 'nan', Infinity: 'inf', '-Infinity': '-inf' };

/** The sandbox runs in UTC, so a zoned timestamp prints as ClickHouse prints a DateTime: no offset. */
const dropUtcOffset = (text: string) => text.replace(/\+00(?::00)?$/, '');

const TEXT_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0', '\b': '\\b', '\f': '\\f', "'": "\\'" };
// Most values need no escape: testing first spares replace() building a new string for them.
const NEEDS_ESCAPE = /[\\\t\n\r\0\b\f']/;
/** ClickHouse's escaping of strings in TabSeparated and inside array literals: controls, backslash, quote. */
const escapeText = (text: string) => (NEEDS_ESCAPE.test(text) ? text.replace(/[\\\t\n\r\0\b\f']/g, (ch) => TEXT_ESCAPES[ch]!) : text);

/** A nested value as ClickHouse writes arrays in text formats: [1,'a',NULL], already escaped. */
function textLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (Array.isArray(value)) return `[${value.map(textLiteral).join(',')}]`;
  if (typeof value === 'string') return `'${escapeText(value)}'`;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** A value as text formats print it, before their own escaping; null stays null. */
function plainText(value: unknown, kind: Kind): string | null {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return textLiteral(value);
  if (typeof value === 'object') return JSON.stringify(value);
  if (kind === 'float' && typeof value === 'string') return FLOAT_WORDS[value] ?? value;
  if (kind === 'zonedTemporal') return dropUtcOffset(String(value));
  return String(value);
}

/** TabSeparated: strings escaped, arrays as their (already escaped) literal, \\N for NULL. */
function tsvField(value: unknown, kind: Kind): string {
  // Numbers and booleans print as themselves, with nothing to escape.
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = plainText(value, kind);
  if (text === null) return '\\N';
  return Array.isArray(value) ? text : escapeText(text);
}

/** CSV as ClickHouse writes it: strings, dates and arrays in double quotes, numbers bare, \N for NULL. */
function csvField(value: unknown, kind: Kind): string {
  const text = plainText(value, kind);
  if (text === null) return '\\N';
  const bare = typeof value === 'number' || typeof value === 'boolean' || kind === 'quotedInteger' || kind === 'decimal' || kind === 'float';
  return bare ? text : `"${text.replaceAll('"', '""')}"`;
}

/** ClickHouse escapes the forward slash in JSON strings (output_format_json_escape_forward_slashes). */
const jsonString = (text: string) => JSON.stringify(text).replaceAll('/', '\\/');

function jsonValue(value: unknown, kind: Kind): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map((v) => jsonValue(v, typeof v === 'string' ? kind : 'other')).join(',')}]`;
  if (typeof value === 'object') return JSON.stringify(value);
  if (kind === 'decimal') return String(value);
  // NaN and infinities are not JSON numbers; ClickHouse writes null for them.
  if (kind === 'float' && typeof value === 'string') return 'null';
  if (typeof value === 'string') return jsonString(kind === 'zonedTemporal' ? dropUtcOffset(value) : value);
  return String(value);
}

export interface FormatWriter {
  readonly contentType: string;
  header(): string;
  rows(rows: readonly Row[]): string;
  footer(rowCount: number, statistics: Statistics): string;
}

function textWriter(columns: readonly Column[], field: (value: unknown, kind: Kind) => string, separator: string, names: string | undefined, contentType: string): FormatWriter {
  const kinds = columns.map((c) => kindOf(c.type));
  return {
    contentType,
    header: () => names ?? '',
    // One string built in place: arrays joined per row were a quarter of answering a large result.
    rows: (rows) => {
      let text = '';
      for (const row of rows) {
        for (let i = 0; i < row.length; i++) text += i === 0 ? field(row[i], kinds[i]!) : separator + field(row[i], kinds[i]!);
        text += '\n';
      }
      return text;
    },
    footer: () => '',
  };
}

/** FORMAT JSON and JSONCompact: ClickHouse's layout, tab-indented, sections apart by a blank line. */
function jsonWriter(columns: readonly Column[], compact: boolean): FormatWriter {
  const kinds = columns.map((c) => kindOf(c.type));
  const keys = columns.map((c) => jsonString(c.name));
  let first = true;
  const row = (values: Row): string =>
    compact
      ? `\t\t[${values.map((v, i) => jsonValue(v, kinds[i]!)).join(', ')}]`
      : `\t\t{\n${values.map((v, i) => `\t\t\t${keys[i]}: ${jsonValue(v, kinds[i]!)}`).join(',\n')}\n\t\t}`;
  return {
    contentType: 'application/json; charset=UTF-8',
    header: () => {
      const meta = columns.map((c, i) => `\t\t{\n\t\t\t"name": ${keys[i]},\n\t\t\t"type": ${jsonString(clickhouseType(c.type))}\n\t\t}`).join(',\n');
      return `{\n\t"meta":\n\t[\n${meta}\n\t],\n\n\t"data":\n\t[\n`;
    },
    rows: (rows) =>
      rows
        .map((values) => {
          const text = (first ? '' : ',\n') + row(values);
          first = false;
          return text;
        })
        .join(''),
    footer: (rowCount, s) =>
      `\n\t],\n\n\t"rows": ${rowCount},\n\n\t"statistics":\n\t{\n` +
      `\t\t"elapsed": ${s.elapsed},\n\t\t"rows_read": ${s.rows_read},\n\t\t"bytes_read": ${s.bytes_read},\n` +
      `\t\t"partitions_considered": ${s.partitions_considered},\n\t\t"partitions_read": ${s.partitions_read}\n\t}\n}\n`,
  };
}

function jsonEachRowWriter(columns: readonly Column[]): FormatWriter {
  const kinds = columns.map((c) => kindOf(c.type));
  const keys = columns.map((c) => jsonString(c.name));
  return {
    contentType: 'application/x-ndjson; charset=UTF-8',
    header: () => '',
    rows: (rows) => rows.map((values) => `{${values.map((v, i) => `${keys[i]}:${jsonValue(v, kinds[i]!)}`).join(',')}}\n`).join(''),
    footer: () => '',
  };
}

export function formatWriter(format: OutputFormat, columns: readonly Column[]): FormatWriter {
  const tsvNames = columns.map((c) => tsvField(c.name, 'string')).join('\t') + '\n';
  const csvNames = columns.map((c) => csvField(c.name, 'string')).join(',') + '\n';
  const tsvType = 'text/tab-separated-values; charset=UTF-8';
  const csvType = 'text/csv; charset=UTF-8; header=absent';
  switch (format) {
    case 'TabSeparated':
      return textWriter(columns, tsvField, '\t', undefined, tsvType);
    case 'TabSeparatedWithNames':
      return textWriter(columns, tsvField, '\t', tsvNames, tsvType);
    case 'CSV':
      return textWriter(columns, csvField, ',', undefined, csvType);
    case 'CSVWithNames':
      return textWriter(columns, csvField, ',', csvNames, 'text/csv; charset=UTF-8; header=present');
    case 'JSON':
      return jsonWriter(columns, false);
    case 'JSONCompact':
      return jsonWriter(columns, true);
    case 'JSONEachRow':
      return jsonEachRowWriter(columns);
  }
}
