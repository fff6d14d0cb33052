import { shortened } from '../names.js';
import { ValidationError } from '../errors.js';
import { rejectUnknownKeys } from '../known-keys.js';
import { flattenedPointers } from './flatten.js';
import { goLayoutToStrptime, UnsupportedLayoutError } from './go-layout.js';
import {
  COMPOSITE_TYPES,
  COMPRESSIONS,
  EPOCH_UNITS,
  SCALAR_TYPES,
  TIMESTAMP_TYPES,
  TRANSFORM_LIMITS,
  type ColumnSource,
  type ColumnType,
  type Compression,
  type CsvOptions,
  type Flattening,
  type JsonOptions,
  type Limits,
  type OutputColumn,
  type Transform,
  type ValueType,
} from './model.js';

type Json = Record<string, unknown>;

/**
 * Settings that Hydrolix documents but Inlet does not run. They are refused by name rather than
 * ignored, because a transform that silently drops a rule loads wrong data.
 */
const REFUSED = {
  column: ['virtual'],
  source: ['from_automatic_value'],
} as const;

const ALL_TYPES: readonly string[] = [...SCALAR_TYPES, ...COMPOSITE_TYPES];
const KNOWN_SETTINGS = ['is_default', 'compression', 'format_details', 'output_columns', 'null_values', 'sample_data', 'sql_transform'];
const KNOWN_CSV = ['delimiter', 'quote', 'escape', 'skip_head', 'comment', 'skip_comments', 'windows_ending', 'buffer_size'];
const KNOWN_DATATYPE = ['type', 'primary', 'format', 'resolution', 'default', 'source', 'index', 'index_options', 'ignore', 'script', 'limits', 'catch_all', 'elements', ...REFUSED.column];
const KNOWN_ELEMENT = ['type', 'format', 'resolution', 'elements', 'limits', 'index', 'index_options'];
const KNOWN_SOURCE = ['from_input_index', 'from_input_field', 'from_input_fields', 'from_json_pointers', ...REFUSED.source];
const KNOWN_LIMITS = ['min', 'max', 'past', 'future', 'action'];
const NUMERIC_TYPES: readonly ColumnType[] = ['int8', 'int32', 'int64', 'uint8', 'uint32', 'uint64', 'double'];

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Setting strings become SQL literals and identifiers, and DuckDB's parser ends the statement at
 * a NUL byte: refused here, with the field, rather than as a parse error in a job.
 */
function refuseNulBytes(value: unknown, where: string): void {
  if (typeof value === 'string' && value.includes('\u0000')) throw new ValidationError(`${where} is ${shortened(value)}: it holds a NUL byte (\\u0000), which no setting may contain; remove it`);
  if (Array.isArray(value)) value.forEach((v, i) => refuseNulBytes(v, `${where}[${i}]`));
  else if (isObject(value)) Object.entries(value).forEach(([k, v]) => refuseNulBytes(v, `${where}.${k}`));
}

const given = (value: unknown) => value !== undefined && value !== null;

/** A whole number within [min, max], or the message names the field, the value and the range. */
function wholeNumber(value: unknown, where: string, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ValidationError(`${where} is ${shortened(value)}: use a whole number of ${what} from ${min} to ${max}`);
  }
  return value;
}

function refuse(obj: Json, keys: readonly string[], where: string) {
  for (const key of keys) {
    if (given(obj[key]) && obj[key] !== false) throw new ValidationError(`${where}.${key} is not supported by Inlet: remove it from the transform`);
  }
}

/** Hydrolix takes one-byte delimiters as a string, an escape like "\t", or an ASCII code. */
function oneByte(value: unknown, where: string, fallback: string): string {
  if (!given(value)) return fallback;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 128) return String.fromCharCode(value);
  if (typeof value === 'string') {
    const unescaped = value === '\\t' ? '\t' : value;
    if (unescaped.length === 1 && unescaped.charCodeAt(0) < 128) return unescaped;
  }
  throw new ValidationError(`${where} is ${shortened(value)}: use a one-byte string such as "," or "\\t", or its ASCII code`);
}

function bool(value: unknown, where: string, fallback = false): boolean {
  if (!given(value)) return fallback;
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  throw new ValidationError(`${where} is ${shortened(value)}: use true or false`);
}

function csvOptions(details: Json): CsvOptions {
  const where = 'settings.format_details';
  rejectUnknownKeys(details, [...KNOWN_CSV, 'flattening'], where);
  const skipHead = wholeNumber(details.skip_head ?? 0, `${where}.skip_head`, 0, TRANSFORM_LIMITS.skipHead, 'lines');
  if (given(details.buffer_size)) wholeNumber(details.buffer_size, `${where}.buffer_size`, 0, 2 ** 31 - 1, 'bytes');
  const skipComments = bool(details.skip_comments, `${where}.skip_comments`);
  bool(details.windows_ending, `${where}.windows_ending`);
  return {
    delimiter: oneByte(details.delimiter, `${where}.delimiter`, ','),
    quote: oneByte(details.quote, `${where}.quote`, '"'),
    escape: oneByte(details.escape, `${where}.escape`, '"'),
    skipHead,
    comment: skipComments ? oneByte(details.comment, `${where}.comment`, '#') : undefined,
  };
}

function separator(raw: unknown, where: string, fallback: { left: string; right: string }): { left: string; right: string } {
  if (!given(raw)) return fallback;
  if (!isObject(raw)) throw new ValidationError(`${where} is ${shortened(raw)}: use {"left": ".", "right": ""}`);
  rejectUnknownKeys(raw, ['left', 'right'], where);
  const left = raw.left ?? '';
  const right = raw.right ?? '';
  if (typeof left !== 'string' || typeof right !== 'string') throw new ValidationError(`${where} is ${shortened(raw)}: left and right are strings`);
  if (left === '') throw new ValidationError(`${where}.left is empty: nested names need a separator, such as "."`);
  return { left, right };
}

function jsonOptions(details: Json): JsonOptions {
  // The CSV options are accepted (and unused) in a JSON transform, as Hydrolix's one format_details shape has them.
  rejectUnknownKeys(details, [...KNOWN_CSV, 'flattening'], 'settings.format_details');
  const where = 'settings.format_details.flattening';
  const raw = details.flattening;
  if (!given(raw)) return { flattening: undefined };
  if (!isObject(raw)) throw new ValidationError(`${where} is ${shortened(raw)}: use an object such as {"active": true, "depth": 1}`);
  rejectUnknownKeys(raw, ['active', 'depth', 'map_flattening_strategy', 'slice_flattening_strategy'], where);
  if (!bool(raw.active, `${where}.active`)) return { flattening: undefined };
  const depth = raw.depth ?? null;
  if (depth !== null && (typeof depth !== 'number' || !Number.isSafeInteger(depth) || depth < 1 || depth > TRANSFORM_LIMITS.flatteningDepth)) {
    throw new ValidationError(`${where}.depth is ${shortened(depth)}: use a whole number of levels from 1 to ${TRANSFORM_LIMITS.flatteningDepth}, or leave it out for all levels`);
  }
  const flattening: Flattening = {
    depth: depth ?? Infinity,
    map: separator(raw.map_flattening_strategy, `${where}.map_flattening_strategy`, { left: '.', right: '' }),
    slice: separator(raw.slice_flattening_strategy, `${where}.slice_flattening_strategy`, { left: '[', right: ']' }),
  };
  return { flattening };
}

/** Go durations ("720h", "1h30m") plus days and weeks ("30d", "2w"), which log retention rules use. */
export function durationSeconds(value: unknown, where: string): number {
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  if (typeof value === 'string' && value.length <= 64 && /^(\d+(\.\d+)?(s|m|h|d|w))+$/.test(value)) {
    let total = 0;
    for (const m of value.matchAll(/(\d+(?:\.\d+)?)(s|m|h|d|w)/g)) total += Number(m[1]) * units[m[2]!]!;
    return total;
  }
  throw new ValidationError(`${where} is ${shortened(value)}: use a duration such as "24h", "90m" or "30d"`);
}

/** The widest limits.past/future: longer than datetime64's whole range (1925 to 2283). */

function limits(raw: unknown, type: ColumnType, where: string): Limits | undefined {
  if (!given(raw)) return undefined;
  if (!isObject(raw)) throw new ValidationError(`${where} is ${shortened(raw)}: use an object such as {"min": 0, "max": 100}`);
  rejectUnknownKeys(raw, KNOWN_LIMITS, where);
  const isTime = TIMESTAMP_TYPES.includes(type);
  const number = (key: 'min' | 'max') => {
    const v = raw[key];
    if (!given(v)) return undefined;
    if (!NUMERIC_TYPES.includes(type)) throw new ValidationError(`${where}.${key} is set on a ${type} column: min and max bound numbers; use past/future for timestamps`);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValidationError(`${where}.${key} is ${shortened(v)}: use a number`);
    return v;
  };
  const duration = (key: 'past' | 'future') => {
    if (!given(raw[key])) return undefined;
    if (!isTime) throw new ValidationError(`${where}.${key} is set on a ${type} column: past and future bound timestamps; use min/max for numbers`);
    const seconds = durationSeconds(raw[key], `${where}.${key}`);
    if (seconds > TRANSFORM_LIMITS.durationSeconds) {
      throw new ValidationError(`${where}.${key} is ${shortened(raw[key])}: use at most ${TRANSFORM_LIMITS.durationSeconds / 86400}d (100 years), or leave it out for no bound`);
    }
    return seconds;
  };
  const action = raw.action ?? 'reject';
  if (action !== 'reject' && action !== 'null') throw new ValidationError(`${where}.action is ${shortened(action)}: use "reject" (drop the row) or "null" (store NULL)`);
  const result: Limits = { min: number('min'), max: number('max'), pastSeconds: duration('past'), futureSeconds: duration('future'), action };
  if (result.min !== undefined && result.max !== undefined && result.min > result.max) throw new ValidationError(`${where}: min ${result.min} is above max ${result.max}`);
  return result;
}

/** The conversion part of a datatype, shared by columns and array/map elements. */
function valueType(dt: Json, where: string, depth = 0): ValueType {
  const typeName = dt.type;
  if (typeof typeName !== 'string' || !ALL_TYPES.includes(typeName)) {
    throw new ValidationError(`${where}.type is ${shortened(typeName)}: use one of ${ALL_TYPES.join(', ')}`);
  }
  const type = typeName as ColumnType;

  let format: string | undefined;
  if (type === 'datetime' || type === 'datetime64') {
    if (typeof dt.format !== 'string' || dt.format === '') {
      throw new ValidationError(`${where}.format is missing: a ${type} column needs a Go layout such as "2006-01-02 15:04:05"`);
    }
    try {
      goLayoutToStrptime(dt.format);
    } catch (err) {
      if (err instanceof UnsupportedLayoutError) throw new ValidationError(`${where}.format: ${err.message}`);
      throw err;
    }
    format = dt.format;
  } else if (type === 'epoch') {
    if (typeof dt.format !== 'string' || !(EPOCH_UNITS as readonly string[]).includes(dt.format)) {
      throw new ValidationError(`${where}.format is ${shortened(dt.format)}: an epoch column needs its unit, one of ${EPOCH_UNITS.join(', ')}`);
    }
    format = dt.format;
  } else if (given(dt.format)) {
    throw new ValidationError(`${where}.format is set on a ${type} column: only datetime, datetime64 and epoch columns take a format`);
  }

  const resolutionRaw = dt.resolution ?? (type === 'datetime64' ? 'ms' : 'seconds');
  if (!['seconds', 's', 'ms'].includes(String(resolutionRaw))) {
    throw new ValidationError(`${where}.resolution is ${shortened(resolutionRaw)}: use "seconds" (or "s") or "ms"`);
  }

  const elements: ValueType[] = [];
  if (type === 'array' || type === 'map') {
    const wanted = type === 'array' ? 1 : 2;
    const raw = dt.elements;
    if (!Array.isArray(raw) || raw.length !== wanted) {
      throw new ValidationError(
        type === 'array'
          ? `${where}.elements is ${shortened(raw)}: an array column needs one element type, such as [{"type": "string"}]`
          : `${where}.elements is ${shortened(raw)}: a map column needs a key and a value type, such as [{"type": "string"}, {"type": "uint32"}]`,
      );
    }
    if (depth > 0) throw new ValidationError(`${where}.elements: arrays and maps cannot nest in Inlet; store the inner value as a string`);
    raw.forEach((e, i) => {
      const at = `${where}.elements[${i}]`;
      if (!isObject(e)) throw new ValidationError(`${at} is ${shortened(e)}: use a datatype object such as {"type": "string"}`);
      rejectUnknownKeys(e, KNOWN_ELEMENT, at);
      elements.push(valueType(e, at, depth + 1));
    });
    if (type === 'map' && !['string', ...NUMERIC_TYPES].includes(elements[0]!.type)) {
      throw new ValidationError(`${where}.elements[0].type is "${elements[0]!.type}": map keys are strings or numbers`);
    }
  } else if (given(dt.elements)) {
    throw new ValidationError(`${where}.elements is set on a ${type} column: only array and map columns have elements`);
  }

  return { type, format, resolution: resolutionRaw === 'ms' ? 'ms' : 's', elements, limits: limits(dt.limits, type, `${where}.limits`) };
}

/** Names DuckDB gives a meaning of its own in every table. */
const RESERVED_NAMES = ['rowid'];

/** A stored column's name: DuckDB and Parquet must take it as it is, and it must not clash with Inlet's own. */
function columnName(name: unknown, at: string): string {
  if (typeof name !== 'string' || name.trim() === '') throw new ValidationError(`${at}.name is ${shortened(name)}: give the column a non-empty name`);
  if (name.length > TRANSFORM_LIMITS.columnNameLength) {
    throw new ValidationError(`${at}.name "${name.slice(0, 40)}..." is ${name.length} characters long: use at most ${TRANSFORM_LIMITS.columnNameLength}`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new ValidationError(`${at}.name ${shortened(name)} contains a control character: use printable characters`);
  // DuckDB identifiers are case-insensitive: "ROWID" and "__Inlet_x" are those names too.
  const lower = name.toLowerCase();
  if (lower.startsWith('__inlet')) throw new ValidationError(`${at}.name "${name}" starts with "__inlet", which Inlet keeps for its own columns: rename it`);
  if (RESERVED_NAMES.includes(lower)) throw new ValidationError(`${at}.name "${name}" is a name DuckDB reserves for its row numbers: rename it, e.g. "${name}_"`);
  return name;
}

function column(raw: unknown, index: number, type: 'csv' | 'json', json: JsonOptions): OutputColumn {
  const at = `settings.output_columns[${index}]`;
  if (!isObject(raw)) throw new ValidationError(`${at} is ${shortened(raw)}: use an object {"name": ..., "datatype": {...}}`);
  rejectUnknownKeys(raw, ['name', 'datatype', 'position'], at);
  const name = columnName(raw.name, at);
  const where = `${at} ("${name}").datatype`;
  const dt = raw.datatype;
  if (!isObject(dt)) throw new ValidationError(`${where} is ${shortened(dt)}: use an object with at least "type"`);
  rejectUnknownKeys(dt, KNOWN_DATATYPE, where);
  refuse(dt, REFUSED.column, where);
  if (given(dt.script)) {
    // node:vm is no sandbox, and a per-row JavaScript call would leave DuckDB's vectorised scan.
    throw new ValidationError(`${where}.script: Inlet does not run JavaScript transforms; derive "${name}" with settings.sql_transform (DuckDB SQL) instead`);
  }
  const value = valueType(dt, where);
  const primary = bool(dt.primary, `${where}.primary`);
  if (primary && !TIMESTAMP_TYPES.includes(value.type)) {
    throw new ValidationError(`${where}.primary is true on a ${value.type} column: the primary column must be datetime, datetime64 or epoch`);
  }
  if (primary && value.limits?.action === 'null') {
    throw new ValidationError(`${where}.limits.action is "null" on the primary column: the primary timestamp can never be null; use "reject"`);
  }

  const defaultValue = dt.default;
  if (given(defaultValue) && typeof defaultValue !== 'string' && typeof defaultValue !== 'number' && typeof defaultValue !== 'boolean') {
    throw new ValidationError(`${where}.default is ${shortened(defaultValue)}: use a string (or number) that converts to ${value.type}`);
  }

  const catchAll = bool(dt.catch_all, `${where}.catch_all`);
  if (catchAll) {
    if (type !== 'json') throw new ValidationError(`${where}.catch_all is true in a CSV transform: catch_all collects unmapped JSON fields; remove it`);
    if (value.type !== 'string' && !(value.type === 'map' && value.elements[0]!.type === 'string' && value.elements[1]!.type === 'string')) {
      throw new ValidationError(`${where}.catch_all is true on a ${value.type} column: use type "map" with string keys and values, or "string" (a JSON object)`);
    }
    if (primary) throw new ValidationError(`${where}.catch_all is true on the primary column: the primary timestamp reads one field`);
  }

  return {
    ...value,
    name,
    primary,
    source: catchAll ? { kind: 'catch_all' } : columnSource(raw, dt, where, type, name, json),
    default: given(defaultValue) ? String(defaultValue) : undefined,
    ignore: bool(dt.ignore, `${where}.ignore`),
    index: bool(dt.index, `${where}.index`, value.type !== 'double'),
  };
}

function stringList(value: unknown, where: string, example: string): string[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string')) {
    throw new ValidationError(`${where} is ${shortened(value)}: use a non-empty array of strings such as ${example}`);
  }
  if (value.length > TRANSFORM_LIMITS.sourcesPerColumn) throw new ValidationError(`${where} has ${value.length} entries: use at most ${TRANSFORM_LIMITS.sourcesPerColumn}`);
  return value as string[];
}

/** A JSON key or pointer a column reads; each is extracted from every record. */
function sourcePath(value: string, where: string): string {
  if (value.length > TRANSFORM_LIMITS.pointerLength) throw new ValidationError(`${where} has a name or pointer of ${value.length} characters: use at most ${TRANSFORM_LIMITS.pointerLength}`);
  return value;
}

function columnSource(raw: Json, dt: Json, where: string, type: 'csv' | 'json', name: string, json: JsonOptions): ColumnSource {
  const source = dt.source ?? {};
  if (!isObject(source)) throw new ValidationError(`${where}.source is ${shortened(source)}: use an object such as {"from_input_index": 0}`);
  rejectUnknownKeys(source, KNOWN_SOURCE, `${where}.source`);
  refuse(source, REFUSED.source, `${where}.source`);
  if (type === 'csv') {
    for (const key of ['from_input_field', 'from_input_fields', 'from_json_pointers']) {
      if (given(source[key])) throw new ValidationError(`${where}.source.${key} is set in a CSV transform: CSV fields are read by position; use from_input_index`);
    }
    // `position` is the older, column-level spelling of source.from_input_index.
    const index = source.from_input_index ?? raw.position;
    if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0 || index > TRANSFORM_LIMITS.inputIndex) {
      throw new ValidationError(`${where}.source.from_input_index is ${shortened(index)}: a CSV column needs the 0-based position of its field, from 0 to ${TRANSFORM_LIMITS.inputIndex}`);
    }
    return { kind: 'index', index };
  }
  if (given(source.from_input_index)) throw new ValidationError(`${where}.source.from_input_index is set in a JSON transform: name the field with from_input_field`);
  const kinds = ['from_input_field', 'from_input_fields', 'from_json_pointers'].filter((k) => given(source[k]));
  if (kinds.length > 1) throw new ValidationError(`${where}.source sets ${kinds.join(' and ')}: use one of them`);
  if (given(source.from_json_pointers)) {
    const pointers = stringList(source.from_json_pointers, `${where}.source.from_json_pointers`, '["/user/id"]');
    for (const p of pointers) {
      sourcePath(p, `${where}.source.from_json_pointers`);
      if (!p.startsWith('/')) throw new ValidationError(`${where}.source.from_json_pointers has ${shortened(p)}: a JSON pointer (RFC 6901) starts with "/", such as "/user/id"`);
    }
    return { kind: 'pointers', pointers };
  }
  const fields = given(source.from_input_fields) ? stringList(source.from_input_fields, `${where}.source.from_input_fields`, '["ip", "client_ip"]') : [source.from_input_field ?? name];
  for (const field of fields) {
    if (typeof field !== 'string' || field === '') throw new ValidationError(`${where}.source.from_input_field is ${shortened(field)}: use the JSON key to read`);
    sourcePath(field, `${where}.source`);
  }
  const names = fields as string[];
  if (json.flattening) return { kind: 'pointers', pointers: names.flatMap((f) => flattenedPointers(f, json.flattening!)) };
  return { kind: 'fields', fields: names };
}

export interface ValidatedTransform {
  readonly transform: Transform;
  readonly isDefault: boolean;
}

/** Checks a transform document (`type` and `settings`) and compiles it into the model. */
export function validateTransform(type: unknown, settings: unknown): ValidatedTransform {
  if (type !== 'csv' && type !== 'json') throw new ValidationError(`type is ${shortened(type)}: use "csv" or "json"`);
  if (!isObject(settings)) throw new ValidationError(`settings is ${shortened(settings)}: use an object with output_columns`);
  rejectUnknownKeys(settings, KNOWN_SETTINGS, 'settings');
  refuseNulBytes(settings, 'settings');

  const compression = settings.compression ?? 'none';
  if (typeof compression !== 'string' || !(COMPRESSIONS as readonly string[]).includes(compression)) {
    throw new ValidationError(`settings.compression is ${shortened(compression)}: use one of ${COMPRESSIONS.join(', ')}`);
  }

  const details = settings.format_details ?? {};
  if (!isObject(details)) throw new ValidationError(`settings.format_details is ${shortened(details)}: use an object`);
  const csv = type === 'csv' ? csvOptions(details) : csvOptions({});
  const json = type === 'json' ? jsonOptions(details) : { flattening: undefined };
  if (type === 'csv' && isObject(details.flattening) && bool(details.flattening.active, 'settings.format_details.flattening.active')) {
    throw new ValidationError('settings.format_details.flattening is active in a CSV transform: flattening applies to JSON; remove it');
  }

  const nullValues = settings.null_values ?? [];
  if (!Array.isArray(nullValues) || !nullValues.every((v) => typeof v === 'string')) {
    throw new ValidationError(`settings.null_values is ${shortened(nullValues)}: use an array of strings such as ["-", ""]`);
  }
  if (nullValues.length > TRANSFORM_LIMITS.nullValues) throw new ValidationError(`settings.null_values has ${nullValues.length} values: use at most ${TRANSFORM_LIMITS.nullValues}`);

  const sqlTransform = settings.sql_transform;
  if (given(sqlTransform) && (typeof sqlTransform !== 'string' || !sqlTransform.includes('{STREAM}'))) {
    throw new ValidationError(`settings.sql_transform is ${shortened(sqlTransform)}: use a DuckDB SELECT that reads FROM {STREAM}, such as "SELECT *, lower(host) AS host_lc FROM {STREAM}"`);
  }
  if (typeof sqlTransform === 'string' && sqlTransform.length > TRANSFORM_LIMITS.sqlTransformLength) {
    throw new ValidationError(
      `settings.sql_transform has ${sqlTransform.length} characters: use at most ${TRANSFORM_LIMITS.sqlTransformLength} (derive fewer columns, or keep lookup values in a table column rather than in the text)`,
    );
  }

  const rawColumns = settings.output_columns;
  if (!Array.isArray(rawColumns) || rawColumns.length === 0) {
    throw new ValidationError('settings.output_columns is missing or empty: list at least the primary timestamp column');
  }
  if (rawColumns.length > TRANSFORM_LIMITS.columns) {
    throw new ValidationError(
      `settings.output_columns has ${rawColumns.length} columns: a transform has at most ${TRANSFORM_LIMITS.columns}; keep rarely queried fields in one map column (catch_all) or split the data into several tables`,
    );
  }
  const columns = rawColumns.map((c, i) => column(c, i, type, json));
  // DuckDB identifiers are case-insensitive: "Host" and "host" would be one column.
  const seen = new Map<string, string>();
  for (const c of columns) {
    const other = seen.get(c.name.toLowerCase());
    if (other !== undefined) {
      throw new ValidationError(
        other === c.name
          ? `settings.output_columns has two columns named "${c.name}": column names must be unique`
          : `settings.output_columns has columns "${other}" and "${c.name}", which differ only in case: column names are case-insensitive, rename one`,
      );
    }
    seen.set(c.name.toLowerCase(), c.name);
  }
  if (columns.filter((c) => c.source.kind === 'catch_all').length > 1) {
    throw new ValidationError('settings.output_columns has more than one catch_all column: mark one');
  }
  const primaries = columns.filter((c) => c.primary);
  if (primaries.length !== 1) {
    throw new ValidationError(
      primaries.length === 0
        ? 'settings.output_columns has no primary column: mark exactly one datetime or epoch column with "primary": true'
        : `settings.output_columns has ${primaries.length} primary columns (${primaries.map((c) => c.name).join(', ')}): mark exactly one`,
    );
  }
  const primary = primaries[0]!;
  if (primary.ignore) throw new ValidationError(`settings.output_columns ("${primary.name}") is primary and ignored: the primary timestamp must be stored`);

  return {
    transform: {
      type,
      compression: compression as Compression,
      csv,
      json,
      nullValues,
      columns,
      primary: primary.name,
      sqlTransform: given(sqlTransform) ? (sqlTransform as string) : undefined,
    },
    isDefault: bool(settings.is_default, 'settings.is_default'),
  };
}
