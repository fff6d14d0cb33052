import { ValidationError } from '../errors.js';
import { goLayoutToStrptime, UnsupportedLayoutError } from './go-layout.js';
import {
  COMPRESSIONS,
  EPOCH_UNITS,
  SCALAR_TYPES,
  TIMESTAMP_TYPES,
  type Compression,
  type CsvOptions,
  type OutputColumn,
  type ScalarType,
  type Transform,
} from './model.js';

type Json = Record<string, unknown>;

/**
 * Settings that Hydrolix documents but Inlet does not run yet. They are refused by name rather
 * than ignored, because a transform that silently drops a rule loads wrong data.
 */
const NOT_YET = {
  settings: ['sql_transform'],
  column: ['script', 'limits', 'catch_all', 'elements', 'virtual'],
  source: ['from_input_fields', 'from_json_pointers', 'from_automatic_value'],
  types: ['array', 'map'],
  compression: ['zip', 'deflate', 'zlib', 'bzip2', 'zstd', 'xz'],
} as const;

const KNOWN_SETTINGS = ['is_default', 'compression', 'format_details', 'output_columns', 'null_values', 'sample_data', ...NOT_YET.settings];
const KNOWN_CSV = ['delimiter', 'quote', 'escape', 'skip_head', 'comment', 'skip_comments', 'windows_ending', 'buffer_size'];
const KNOWN_DATATYPE = ['type', 'primary', 'format', 'resolution', 'default', 'source', 'index', 'index_options', 'ignore', ...NOT_YET.column];

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const show = (value: unknown) => JSON.stringify(value);

function rejectUnknown(obj: Json, known: readonly string[], where: string) {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) throw new ValidationError(`${where}.${key} is not a known setting: use one of ${known.join(', ')}`);
  }
}

function refuseNotYet(obj: Json, keys: readonly string[], where: string) {
  for (const key of keys) {
    if (obj[key] !== undefined && obj[key] !== null && obj[key] !== false) {
      throw new ValidationError(`${where}.${key} is not supported by Inlet yet: remove it from the transform`);
    }
  }
}

/** Hydrolix takes one-byte delimiters as a string, an escape like "\t", or an ASCII code. */
function oneByte(value: unknown, where: string, fallback: string): string {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 128) return String.fromCharCode(value);
  if (typeof value === 'string') {
    const unescaped = value === '\\t' ? '\t' : value;
    if (unescaped.length === 1 && unescaped.charCodeAt(0) < 128) return unescaped;
  }
  throw new ValidationError(`${where} is ${show(value)}: use a one-byte string such as "," or "\\t", or its ASCII code`);
}

function bool(value: unknown, where: string, fallback = false): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  throw new ValidationError(`${where} is ${show(value)}: use true or false`);
}

function csvOptions(details: Json): CsvOptions {
  const where = 'settings.format_details';
  rejectUnknown(details, [...KNOWN_CSV, 'flattening'], where);
  const skipHead = details.skip_head ?? 0;
  if (typeof skipHead !== 'number' || !Number.isInteger(skipHead) || skipHead < 0) {
    throw new ValidationError(`${where}.skip_head is ${show(skipHead)}: use a whole number of lines >= 0`);
  }
  const skipComments = bool(details.skip_comments, `${where}.skip_comments`);
  return {
    delimiter: oneByte(details.delimiter, `${where}.delimiter`, ','),
    quote: oneByte(details.quote, `${where}.quote`, '"'),
    escape: oneByte(details.escape, `${where}.escape`, '"'),
    skipHead,
    comment: skipComments ? oneByte(details.comment, `${where}.comment`, '#') : undefined,
  };
}

function column(raw: unknown, index: number, type: 'csv' | 'json'): OutputColumn {
  const at = `settings.output_columns[${index}]`;
  if (!isObject(raw)) throw new ValidationError(`${at} is ${show(raw)}: use an object {"name": ..., "datatype": {...}}`);
  const name = raw.name;
  if (typeof name !== 'string' || name.trim() === '') throw new ValidationError(`${at}.name is ${show(name)}: give the column a non-empty name`);
  const where = `${at} ("${name}").datatype`;
  const dt = raw.datatype;
  if (!isObject(dt)) throw new ValidationError(`${where} is ${show(dt)}: use an object with at least "type"`);
  rejectUnknown(dt, KNOWN_DATATYPE, where);
  const typeName = dt.type;
  if (typeof typeName === 'string' && (NOT_YET.types as readonly string[]).includes(typeName)) {
    throw new ValidationError(`${where}.type "${typeName}" is not supported by Inlet yet: use a scalar type (${SCALAR_TYPES.join(', ')})`);
  }
  refuseNotYet(dt, NOT_YET.column, where);
  if (typeof typeName !== 'string' || !(SCALAR_TYPES as readonly string[]).includes(typeName)) {
    throw new ValidationError(`${where}.type is ${show(typeName)}: use one of ${SCALAR_TYPES.join(', ')}`);
  }
  const colType = typeName as ScalarType;
  const primary = bool(dt.primary, `${where}.primary`);
  if (primary && !TIMESTAMP_TYPES.includes(colType)) {
    throw new ValidationError(`${where}.primary is true on a ${colType} column: the primary column must be datetime, datetime64 or epoch`);
  }

  let format: string | undefined;
  if (colType === 'datetime' || colType === 'datetime64') {
    if (typeof dt.format !== 'string' || dt.format === '') {
      throw new ValidationError(`${where}.format is missing: a ${colType} column needs a Go layout such as "2006-01-02 15:04:05"`);
    }
    try {
      goLayoutToStrptime(dt.format);
    } catch (err) {
      if (err instanceof UnsupportedLayoutError) throw new ValidationError(`${where}.format: ${err.message}`);
      throw err;
    }
    format = dt.format;
  } else if (colType === 'epoch') {
    if (typeof dt.format !== 'string' || !(EPOCH_UNITS as readonly string[]).includes(dt.format)) {
      throw new ValidationError(`${where}.format is ${show(dt.format)}: an epoch column needs its unit, one of ${EPOCH_UNITS.join(', ')}`);
    }
    format = dt.format;
  } else if (dt.format !== undefined && dt.format !== null) {
    throw new ValidationError(`${where}.format is set on a ${colType} column: only datetime, datetime64 and epoch columns take a format`);
  }

  const resolutionRaw = dt.resolution ?? (colType === 'datetime64' ? 'ms' : 'seconds');
  if (!['seconds', 's', 'ms'].includes(String(resolutionRaw))) {
    throw new ValidationError(`${where}.resolution is ${show(resolutionRaw)}: use "seconds" (or "s") or "ms"`);
  }

  const defaultValue = dt.default;
  if (defaultValue !== undefined && defaultValue !== null && typeof defaultValue !== 'string' && typeof defaultValue !== 'number' && typeof defaultValue !== 'boolean') {
    throw new ValidationError(`${where}.default is ${show(defaultValue)}: use a string (or number) that converts to ${colType}`);
  }

  return {
    name,
    type: colType,
    primary,
    format,
    resolution: resolutionRaw === 'ms' ? 'ms' : 's',
    source: columnSource(raw, dt, where, type, name),
    default: defaultValue === undefined || defaultValue === null ? undefined : String(defaultValue),
    ignore: bool(dt.ignore, `${where}.ignore`),
  };
}

function columnSource(raw: Json, dt: Json, where: string, type: 'csv' | 'json', name: string): OutputColumn['source'] {
  const source = dt.source ?? {};
  if (!isObject(source)) throw new ValidationError(`${where}.source is ${show(source)}: use an object such as {"from_input_index": 0}`);
  refuseNotYet(source, NOT_YET.source, `${where}.source`);
  rejectUnknown(source, ['from_input_index', 'from_input_field', ...NOT_YET.source], `${where}.source`);
  if (type === 'csv') {
    // `position` is the older, column-level spelling of source.from_input_index.
    const index = source.from_input_index ?? raw.position;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0) {
      throw new ValidationError(`${where}.source.from_input_index is ${show(index)}: a CSV column needs the 0-based position of its field`);
    }
    return { index };
  }
  const field = source.from_input_field ?? name;
  if (typeof field !== 'string' || field === '') throw new ValidationError(`${where}.source.from_input_field is ${show(field)}: use the JSON key to read`);
  return { field };
}

export interface ValidatedTransform {
  readonly transform: Transform;
  readonly isDefault: boolean;
}

/** Checks a transform document (`type` and `settings`) and compiles it into the model. */
export function validateTransform(type: unknown, settings: unknown): ValidatedTransform {
  if (type !== 'csv' && type !== 'json') throw new ValidationError(`type is ${show(type)}: use "csv" or "json"`);
  if (!isObject(settings)) throw new ValidationError(`settings is ${show(settings)}: use an object with output_columns`);
  rejectUnknown(settings, KNOWN_SETTINGS, 'settings');
  refuseNotYet(settings, NOT_YET.settings, 'settings');

  const compression = settings.compression ?? 'none';
  if (typeof compression === 'string' && (NOT_YET.compression as readonly string[]).includes(compression)) {
    throw new ValidationError(`settings.compression "${compression}" is not supported by Inlet yet: use ${COMPRESSIONS.join(' or ')}`);
  }
  if (typeof compression !== 'string' || !(COMPRESSIONS as readonly string[]).includes(compression)) {
    throw new ValidationError(`settings.compression is ${show(compression)}: use one of ${COMPRESSIONS.join(', ')}`);
  }

  const details = settings.format_details ?? {};
  if (!isObject(details)) throw new ValidationError(`settings.format_details is ${show(details)}: use an object`);
  const flattening = details.flattening;
  if (isObject(flattening) && bool(flattening.active, 'settings.format_details.flattening.active')) {
    throw new ValidationError('settings.format_details.flattening is not supported by Inlet yet: set "active": false or read nested fields another way');
  }
  const csv = type === 'csv' ? csvOptions(details) : csvOptions({});

  const nullValues = settings.null_values ?? [];
  if (!Array.isArray(nullValues) || !nullValues.every((v) => typeof v === 'string')) {
    throw new ValidationError(`settings.null_values is ${show(nullValues)}: use an array of strings such as ["-", ""]`);
  }

  const rawColumns = settings.output_columns;
  if (!Array.isArray(rawColumns) || rawColumns.length === 0) {
    throw new ValidationError('settings.output_columns is missing or empty: list at least the primary timestamp column');
  }
  const columns = rawColumns.map((c, i) => column(c, i, type));
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c.name)) throw new ValidationError(`settings.output_columns has two columns named "${c.name}": column names must be unique`);
    seen.add(c.name);
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
    transform: { type, compression: compression as Compression, csv, nullValues, columns, primary: primary.name },
    isDefault: bool(settings.is_default, 'settings.is_default'),
  };
}
