import type { DuckDBType } from '@duckdb/node-api';
import { clickhouseType, type ClickHouseType } from './result-types.js';
import type { OutputFormat } from './statement.js';

export interface Column {
  readonly name: string;
  readonly type: DuckDBType;
  /** What the statement says its ClickHouse type is (see result-types.ts); else named from `type`. */
  readonly clickhouse?: ClickHouseType;
}

/** How values are written beyond their format: ClickHouse's output_format_json_quote_64bit_integers. */
export interface FormatOptions {
  readonly quote64BitIntegers: boolean;
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

/** How one column's values are written: by their DuckDB kind, and for timestamps as their ClickHouse type prints them. */
interface Field {
  readonly kind: Kind;
  /** Digits of seconds' fractions (0: a DateTime), or 'date'; undefined leaves DuckDB's text. */
  readonly time: number | 'date' | undefined;
  /** 64-bit and wider integers as JSON strings (ClickHouse's default) or bare numbers. */
  readonly quote: boolean;
  /** An array's elements: written as their own type prints, not as the strings DuckDB gives some of them as. */
  readonly element?: Field;
}

/** By the DuckDB type's name (`BIGINT`, `DECIMAL(9,2)`, `VARCHAR[]`). */
function kindOf(name: string): Kind {
  if (['BIGINT', 'UBIGINT', 'HUGEINT', 'UHUGEINT'].includes(name)) return 'quotedInteger';
  if (name.startsWith('DECIMAL')) return 'decimal';
  if (name === 'DOUBLE' || name === 'FLOAT') return 'float';
  if (name === 'VARCHAR') return 'string';
  if (name === 'TIMESTAMP WITH TIME ZONE') return 'zonedTemporal';
  if (name.startsWith('TIMESTAMP') || name === 'DATE' || name === 'TIME') return 'temporal';
  return 'other';
}

const typeOf = (column: Column): ClickHouseType => column.clickhouse ?? clickhouseType(column.type);

function fieldOf(name: string, clickhouse: ClickHouseType, options: FormatOptions): Field {
  const kind = kindOf(name);
  const time = kind === 'temporal' || kind === 'zonedTemporal' ? clickhouse.time : undefined;
  const element = name.endsWith('[]') ? fieldOf(name.slice(0, -2), clickhouse.element ?? clickhouseType(name.slice(0, -2)), options) : undefined;
  return { kind, time, quote: options.quote64BitIntegers, ...(element ? { element } : {}) };
}

const fieldsOf = (columns: readonly Column[], options: FormatOptions): Field[] => columns.map((c) => fieldOf(c.type.toString(), typeOf(c), options));

const PLAIN: Field = { kind: 'other', time: undefined, quote: true };
const STRING: Field = { kind: 'string', time: undefined, quote: true };

const TIMESTAMP_TEXT = /^(\d{4}-\d\d-\d\d)(?: (\d\d:\d\d:\d\d)(?:\.(\d+))?)?$/;

/**
 * DuckDB prints a timestamp's fraction without its trailing zeros; ClickHouse prints as many
 * digits as the type has (none for a DateTime, a Date without its time).
 */
function timeText(text: string, time: number | 'date' | undefined): string {
  if (time === undefined) return text;
  // Most values already have the type's length ('YYYY-MM-DD hh:mm:ss' and its fraction): no regex, no new string.
  if (typeof time === 'number' && text.length === (time === 0 ? 19 : 20 + time) && text[10] === ' ') return text;
  const parts = TIMESTAMP_TEXT.exec(text);
  if (!parts) return text;
  if (time === 'date') return parts[1]!;
  const clock = `${parts[1]} ${parts[2] ?? '00:00:00'}`;
  return time === 0 ? clock : `${clock}.${(parts[3] ?? '').padEnd(time, '0').slice(0, time)}`;
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
function textLiteral(value: unknown, field: Field | undefined): string {
  if (value === null || value === undefined) return 'NULL';
  if (Array.isArray(value)) return `[${value.map((v) => textLiteral(v, field?.element)).join(',')}]`;
  // 64-bit integers, decimals and NaN come as strings: their type says they print bare, as numbers.
  if (typeof value === 'string' && field && field.kind !== 'string' && field.kind !== 'other') {
    const text = plainText(value, field)!;
    return field.kind === 'temporal' || field.kind === 'zonedTemporal' ? `'${text}'` : text;
  }
  if (typeof value === 'string') return `'${escapeText(value)}'`;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** A value as text formats print it, before their own escaping; null stays null. */
function plainText(value: unknown, field: Field): string | null {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return textLiteral(value, field);
  if (typeof value === 'object') return JSON.stringify(value);
  if (field.kind === 'float' && typeof value === 'string') return FLOAT_WORDS[value] ?? value;
  if (field.kind === 'zonedTemporal') return timeText(dropUtcOffset(String(value)), field.time);
  if (field.kind === 'temporal') return timeText(String(value), field.time);
  return String(value);
}

/** TabSeparated: strings escaped, arrays as their (already escaped) literal, \\N for NULL. */
function tsvField(value: unknown, field: Field): string {
  // Numbers and booleans print as themselves, with nothing to escape.
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = plainText(value, field);
  if (text === null) return '\\N';
  return Array.isArray(value) ? text : escapeText(text);
}

/** CSV as ClickHouse writes it: strings, dates and arrays in double quotes, numbers bare, \N for NULL. */
function csvField(value: unknown, field: Field): string {
  const text = plainText(value, field);
  if (text === null) return '\\N';
  const { kind } = field;
  const bare = typeof value === 'number' || typeof value === 'boolean' || kind === 'quotedInteger' || kind === 'decimal' || kind === 'float';
  return bare ? text : `"${text.replaceAll('"', '""')}"`;
}

/** ClickHouse escapes the forward slash in JSON strings (output_format_json_escape_forward_slashes). */
const jsonString = (text: string) => JSON.stringify(text).replaceAll('/', '\\/');

function jsonValue(value: unknown, field: Field): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map((v) => jsonValue(v, field.element ?? (typeof v === 'string' ? field : PLAIN))).join(',')}]`;
  if (typeof value === 'object') return JSON.stringify(value);
  if (field.kind === 'decimal') return String(value);
  if (field.kind === 'quotedInteger' && !field.quote) return String(value);
  // NaN and infinities are not JSON numbers; ClickHouse writes null for them.
  if (field.kind === 'float' && typeof value === 'string') return 'null';
  if (field.kind === 'zonedTemporal') return jsonString(timeText(dropUtcOffset(String(value)), field.time));
  if (field.kind === 'temporal') return jsonString(timeText(String(value), field.time));
  if (typeof value === 'string') return jsonString(value);
  return String(value);
}

export interface FormatWriter {
  readonly contentType: string;
  header(): string;
  rows(rows: readonly Row[]): string;
  footer(rowCount: number, statistics: Statistics): string;
}

function textWriter(fields: readonly Field[], field: (value: unknown, f: Field) => string, separator: string, names: string | undefined, contentType: string): FormatWriter {
  return {
    contentType,
    header: () => names ?? '',
    // One string built in place: arrays joined per row were a quarter of answering a large result.
    rows: (rows) => {
      let text = '';
      for (const row of rows) {
        for (let i = 0; i < row.length; i++) text += i === 0 ? field(row[i], fields[i]!) : separator + field(row[i], fields[i]!);
        text += '\n';
      }
      return text;
    },
    footer: () => '',
  };
}

/** How a JSON format writes one value: typed (jsonValue), or for the Strings formats as the text ClickHouse prints (stringValue). */
type JsonValue = (value: unknown, field: Field) => string;

/** What ClickHouse prints for NULL where a value is shown as text: the Strings formats write it as a string. */
const NULL_TEXT = jsonString('ᴺᵁᴸᴸ');

/** A value as the Strings formats write it: the text formats' text, as a JSON string. */
function stringValue(value: unknown, field: Field): string {
  const text = plainText(value, field);
  return text === null ? NULL_TEXT : jsonString(text);
}

const JSON_TYPE = 'application/json; charset=UTF-8';
const NDJSON_TYPE = 'application/x-ndjson; charset=UTF-8';

/** FORMAT JSON and JSONCompact (and their Strings kin): ClickHouse's layout, tab-indented, sections apart by a blank line. */
function jsonWriter(columns: readonly Column[], fields: readonly Field[], compact: boolean, jsonValue: JsonValue): FormatWriter {
  const keys = columns.map((c) => jsonString(c.name));
  let first = true;
  const row = (values: Row): string =>
    compact ? `\t\t[${values.map((v, i) => jsonValue(v, fields[i]!)).join(', ')}]` : `\t\t{\n${values.map((v, i) => `\t\t\t${keys[i]}: ${jsonValue(v, fields[i]!)}`).join(',\n')}\n\t\t}`;
  return {
    contentType: JSON_TYPE,
    header: () => {
      const meta = columns.map((c, i) => `\t\t{\n\t\t\t"name": ${keys[i]},\n\t\t\t"type": ${jsonString(typeOf(c).name)}\n\t\t}`).join(',\n');
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

/** A row as an object on one line, as JSONEachRow writes it: {"name":value,...}. */
const compactObject = (keys: readonly string[], fields: readonly Field[], values: Row, jsonValue: JsonValue) => `{${values.map((v, i) => `${keys[i]}:${jsonValue(v, fields[i]!)}`).join(',')}}`;

function jsonEachRowWriter(columns: readonly Column[], fields: readonly Field[], jsonValue: JsonValue): FormatWriter {
  const keys = columns.map((c) => jsonString(c.name));
  return {
    contentType: NDJSON_TYPE,
    header: () => '',
    rows: (rows) => rows.map((values) => `${compactObject(keys, fields, values, jsonValue)}\n`).join(''),
    footer: () => '',
  };
}

/** JSONCompactEachRow and its kin: a row an array on a line, [value, value], after a line of names and one of types if asked. */
function jsonCompactEachRowWriter(columns: readonly Column[], fields: readonly Field[], jsonValue: JsonValue, head: 'names' | 'types' | undefined): FormatWriter {
  const line = (texts: readonly string[]) => `[${texts.join(', ')}]\n`;
  const names = line(columns.map((c) => jsonString(c.name)));
  const types = line(columns.map((c) => jsonString(typeOf(c).name)));
  return {
    contentType: NDJSON_TYPE,
    header: () => (head === 'names' ? names : head === 'types' ? names + types : ''),
    rows: (rows) => rows.map((values) => line(values.map((v, i) => jsonValue(v, fields[i]!)))).join(''),
    footer: () => '',
  };
}

/** JSONObjectEachRow: one object whose members are the rows, "row_1", "row_2", ... in order. */
function jsonObjectEachRowWriter(columns: readonly Column[], fields: readonly Field[]): FormatWriter {
  const keys = columns.map((c) => jsonString(c.name));
  let written = 0;
  return {
    contentType: JSON_TYPE,
    header: () => '{\n',
    rows: (rows) =>
      rows
        .map((values) => {
          written++;
          return `${written === 1 ? '' : ',\n'}\t"row_${written}": ${compactObject(keys, fields, values, jsonValue)}`;
        })
        .join(''),
    footer: () => '\n}\n',
  };
}

export function formatWriter(format: OutputFormat, columns: readonly Column[], options: FormatOptions = { quote64BitIntegers: true }): FormatWriter {
  const fields = fieldsOf(columns, options);
  const tsvLine = (texts: readonly string[]) => texts.map((t) => tsvField(t, STRING)).join('\t') + '\n';
  const csvLine = (texts: readonly string[]) => texts.map((t) => csvField(t, STRING)).join(',') + '\n';
  const names = columns.map((c) => c.name);
  const types = columns.map((c) => typeOf(c).name);
  const tsvType = 'text/tab-separated-values; charset=UTF-8';
  const csvType = 'text/csv; charset=UTF-8; header=absent';
  const csvHeaderType = 'text/csv; charset=UTF-8; header=present';
  switch (format) {
    case 'TabSeparated':
      return textWriter(fields, tsvField, '\t', undefined, tsvType);
    case 'TabSeparatedWithNames':
      return textWriter(fields, tsvField, '\t', tsvLine(names), tsvType);
    case 'TabSeparatedWithNamesAndTypes':
      return textWriter(fields, tsvField, '\t', tsvLine(names) + tsvLine(types), tsvType);
    case 'CSV':
      return textWriter(fields, csvField, ',', undefined, csvType);
    case 'CSVWithNames':
      return textWriter(fields, csvField, ',', csvLine(names), csvHeaderType);
    case 'CSVWithNamesAndTypes':
      return textWriter(fields, csvField, ',', csvLine(names) + csvLine(types), csvHeaderType);
    case 'JSON':
      return jsonWriter(columns, fields, false, jsonValue);
    case 'JSONStrings':
      return jsonWriter(columns, fields, false, stringValue);
    case 'JSONCompact':
      return jsonWriter(columns, fields, true, jsonValue);
    case 'JSONCompactStrings':
      return jsonWriter(columns, fields, true, stringValue);
    case 'JSONEachRow':
      return jsonEachRowWriter(columns, fields, jsonValue);
    case 'JSONStringsEachRow':
      return jsonEachRowWriter(columns, fields, stringValue);
    case 'JSONCompactEachRow':
      return jsonCompactEachRowWriter(columns, fields, jsonValue, undefined);
    case 'JSONCompactEachRowWithNames':
      return jsonCompactEachRowWriter(columns, fields, jsonValue, 'names');
    case 'JSONCompactEachRowWithNamesAndTypes':
      return jsonCompactEachRowWriter(columns, fields, jsonValue, 'types');
    case 'JSONCompactStringsEachRow':
      return jsonCompactEachRowWriter(columns, fields, stringValue, undefined);
    case 'JSONCompactStringsEachRowWithNames':
      return jsonCompactEachRowWriter(columns, fields, stringValue, 'names');
    case 'JSONCompactStringsEachRowWithNamesAndTypes':
      return jsonCompactEachRowWriter(columns, fields, stringValue, 'types');
    case 'JSONObjectEachRow':
      return jsonObjectEachRowWriter(columns, fields);
  }
}
