import { createHash } from 'node:crypto';
import { BLANK_COLUMN, BUNDLE_FILE, BUNDLE_PREFIX_BYTES, FILE_COLUMN, LINE_COLUMN, RAW_COLUMN, REASON_COLUMN } from './bookkeeping.js';
import { pointerOf } from './flatten.js';
import { goLayoutParseSql } from './go-layout.js';
import type { ColumnType, EpochUnit, OutputColumn, Transform, ValueType } from './model.js';

/** DuckDB types for the stored scalars. Booleans are stored as 0/1 UTINYINT, as Hydrolix stores them. */
const SCALAR_DUCKDB_TYPES: Record<Exclude<ColumnType, 'array' | 'map'>, string> = {
  string: 'VARCHAR',
  boolean: 'UTINYINT',
  int8: 'TINYINT',
  int32: 'INTEGER',
  int64: 'BIGINT',
  uint8: 'UTINYINT',
  uint32: 'UINTEGER',
  uint64: 'UBIGINT',
  double: 'DOUBLE',
  datetime: 'TIMESTAMP',
  datetime64: 'TIMESTAMP',
  epoch: 'TIMESTAMP',
};

export function duckdbType(v: ValueType): string {
  if (v.type === 'array') return `${duckdbType(v.elements[0]!)}[]`;
  if (v.type === 'map') return `MAP(${duckdbType(v.elements[0]!)}, ${duckdbType(v.elements[1]!)})`;
  return SCALAR_DUCKDB_TYPES[v.type];
}

export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
export const quoteLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;

/**
 * How a group of files is read. `csv`: delimited records. `lines`: one JSON document per line
 * (NDJSON), so a bad line rejects only itself. `array`: each file one JSON array of records.
 * `objects`: concatenated (or pretty-printed) JSON documents.
 */
export type ReadShape = 'csv' | 'lines' | 'array' | 'objects';

export interface ReadOptions {
  readonly files: readonly string[];
  readonly shape: ReadShape;
  /** Fields per CSV record; records with another count are rejected by the reader. */
  readonly csvFieldCount: number;
  /**
   * Names DuckDB's reject tables for this read, so several reads on one connection stay apart.
   * Without it the reader keeps no rejects and fails the read on the first record it refuses.
   */
  readonly rejectsName: string | undefined;
  /** The task-wide number of each file, so reads of several file groups share one numbering. */
  readonly fileNumbers: readonly number[];
  /** The load's clock, for limits.past/future: one instant for the whole scan. */
  readonly nowMs: number;
  /** A table holding what readSql reads, to convert from instead of reading the files. */
  readonly staged?: string;
  /** The longest line in the files (INLET_MAX_LINE_BYTES): longer ones were taken out before the read. */
  readonly maxLineBytes: number;
  /** compileSelect only: SQL of a record's raw text over the read's columns, kept for the rejected records (else RAW_COLUMN is NULL). */
  readonly rawText?: string;
  /** NDJSON or CSV lines of many objects in one file, each line led by its object's file number (see ingest/bundle.ts). */
  readonly bundled?: boolean;
}

const EPOCH_TO_MICROS: Record<EpochUnit, { mul: number; div: number }> = {
  s: { mul: 1_000_000, div: 1 },
  cs: { mul: 10_000, div: 1 },
  ms: { mul: 1_000, div: 1 },
  us: { mul: 1, div: 1 },
  ns: { mul: 1, div: 1_000 },
};

/** Hydrolix's stored ranges: datetime and epoch are ClickHouse DateTime, datetime64 is DateTime64. */
const TIME_RANGE = {
  datetime: ["TIMESTAMP '1970-01-01 00:00:00'", "TIMESTAMP '2106-02-07 06:28:15'"],
  datetime64: ["TIMESTAMP '1925-01-01 00:00:00'", "TIMESTAMP '2283-11-11 23:59:59.999999'"],
} as const;

const INTEGER_PATTERN = quoteLiteral('\\s*[+-]?[0-9]+\\s*');

/** DuckDB's own default CSV buffer, kept for lines well below it. */
const READ_BUFFER_BYTES = 32 * 1024 * 1024;
/** DuckDB's own default maximum_object_size, kept unless the line limit is larger. */
const JSON_OBJECT_BYTES = 16 * 1024 * 1024;

/** The reader: every field as VARCHAR, conversions happen later so a bad value rejects one row, not the file. */
/** The raw read of the files: one row per record, the file's number first; what a staged table holds. */
export function readSql(t: Transform, o: ReadOptions): string {
  const files = `[${o.files.map(quoteLiteral).join(', ')}]`;
  const fileNumber = `[${o.fileNumbers.join(', ')}][file_index::BIGINT + 1]`;
  // DuckDB refuses a line of max_line_size bytes or more, and drops one longer than its buffer
  // without a word: the buffer must hold the longest line with room to spare.
  const lineSize = o.maxLineBytes + 1 + (o.bundled ? BUNDLE_PREFIX_BYTES : 0);
  const rejects = o.rejectsName === undefined ? '' : `, store_rejects=true, rejects_table=${quoteLiteral(`${o.rejectsName}_errors`)}, rejects_scan=${quoteLiteral(`${o.rejectsName}_scans`)}`;
  const common = `header=false, auto_detect=false, max_line_size=${lineSize}, buffer_size=${Math.max(READ_BUFFER_BYTES, 4 * lineSize)}${rejects}`;
  if (o.shape === 'array' || o.shape === 'objects') {
    const format = o.shape === 'array' ? 'array' : 'unstructured';
    // These records are not lines: DuckDB fails the whole read on one past its object buffer.
    const objectSize = Math.max(JSON_OBJECT_BYTES, lineSize);
    return `SELECT ${fileNumber} AS ${FILE_COLUMN}, json::VARCHAR AS ${LINE_COLUMN} FROM read_json_objects(${files}, format='${format}', maximum_object_size=${objectSize})`;
  }
  if (o.shape === 'lines') {
    // One VARCHAR per line: a delimiter and quote that never occur in JSON text keep each line whole.
    if (o.bundled)
      return `SELECT ${BUNDLE_FILE} AS ${FILE_COLUMN}, line AS ${LINE_COLUMN} FROM read_csv(${files}, columns={'${BUNDLE_FILE}': 'INTEGER', 'line': 'VARCHAR'}, delim=E'\\x01', quote='', escape='', ${common})`;
    return `SELECT ${fileNumber} AS ${FILE_COLUMN}, line AS ${LINE_COLUMN} FROM read_csv(${files}, columns={'line': 'VARCHAR'}, delim=E'\\x01', quote='', escape='', ${common})`;
  }
  const columns = Array.from({ length: o.csvFieldCount }, (_, i) => `'c${i}': 'VARCHAR'`).join(', ');
  const comment = t.csv.comment ? `, comment=${quoteLiteral(t.csv.comment)}` : '';
  // A bundle's lines are led by their file number as a field of its own, its skipped heads left out.
  const [file, prefix, skip] = o.bundled ? [BUNDLE_FILE, `'${BUNDLE_FILE}': 'INTEGER', `, 0] : [fileNumber, '', t.csv.skipHead];
  return (
    `SELECT ${file} AS ${FILE_COLUMN}, *${o.bundled ? ` EXCLUDE (${BUNDLE_FILE})` : ''} FROM read_csv(${files}, columns={${prefix}${columns}}, ` +
    `delim=${quoteLiteral(t.csv.delimiter)}, quote=${quoteLiteral(t.csv.quote)}, escape=${quoteLiteral(t.csv.escape)}, skip=${skip}${comment}, ${common})`
  );
}

/** Every JSON pointer the columns read, in one list, so each record is parsed once. */
function jsonPointers(t: Transform): { all: string[]; of: Map<string, number[]> } {
  const all: string[] = [];
  // 1-based positions in `all`, looked up rather than searched: a wide transform has thousands.
  const position = new Map<string, number>();
  const of = new Map<string, number[]>();
  for (const c of t.columns) {
    const pointers = c.source.kind === 'fields' ? c.source.fields.map((f) => pointerOf([f])) : c.source.kind === 'pointers' ? c.source.pointers : [];
    of.set(
      c.name,
      pointers.map((p) => {
        let at = position.get(p);
        if (at === undefined) position.set(p, (at = all.push(p)));
        return at;
      }),
    );
  }
  return { all, of };
}

/** Top-level keys some column reads: the catch-all column keeps the others. */
function mappedTopLevelKeys(t: Transform): string[] {
  const keys = new Set<string>();
  for (const c of t.columns) {
    if (c.source.kind === 'fields') c.source.fields.forEach((f) => keys.add(f));
    if (c.source.kind === 'pointers') {
      for (const p of c.source.pointers) keys.add((p.split('/')[1] ?? '').replaceAll('~1', '/').replaceAll('~0', '~'));
    }
  }
  return [...keys];
}

function rawValueSql(t: Transform, c: OutputColumn, pointers: Map<string, number[]>, csvFieldCount: number): string {
  const source = c.source;
  if (source.kind === 'index') return source.index < csvFieldCount ? `c${source.index}` : 'NULL::VARCHAR';
  if (source.kind === 'catch_all') {
    const mapped = `[${mappedTopLevelKeys(t).map(quoteLiteral).join(', ')}]`;
    const rest = `map_from_entries(list_filter(map_entries(json_transform(${LINE_COLUMN}, '"MAP(VARCHAR, VARCHAR)"')), lambda e: NOT list_contains(${mapped}, e.key)))`;
    const value = c.type === 'string' ? `to_json(${rest})::VARCHAR` : rest;
    return `CASE WHEN __inlet_fields IS NOT NULL AND cardinality(${rest}) > 0 THEN ${value} END`;
  }
  const at = pointers.get(c.name)!.map((i) => `__inlet_fields[${i}]`);
  return at.length === 1 ? at[0]! : `coalesce(${at.join(', ')})`;
}

/** Missing, empty and null-valued inputs become the column's default (as if it were the input) or NULL. */
function normalisedSql(t: Transform, c: OutputColumn, raw: string): string {
  if (c.source.kind === 'catch_all') return raw;
  const nulls = ["''", ...t.nullValues.filter((v) => v !== '').map(quoteLiteral)];
  // Without a default, a missing input stays NULL by itself; nullif is the cheapest spelling.
  if (c.default === undefined) return nulls.length === 1 ? `nullif(${raw}, '')` : `CASE WHEN ${raw} IN (${nulls.join(', ')}) THEN NULL ELSE ${raw} END`;
  return `CASE WHEN ${raw} IS NULL OR ${raw} IN (${nulls.join(', ')}) THEN ${quoteLiteral(c.default)} ELSE ${raw} END`;
}

function truncateTo(v: ValueType, ts: string): string {
  return v.resolution === 'ms' ? `date_trunc('millisecond', ${ts})` : `date_trunc('second', ${ts})`;
}

/** Converts a VARCHAR to the value's type, yielding NULL (never an error) when it cannot. */
export function convertSql(c: ValueType, v: string): string {
  switch (c.type) {
    case 'string':
      return v;
    case 'double':
      return finiteUnlessSaid(`try_cast(${v} AS DOUBLE)`, v);
    case 'boolean':
      return `CASE WHEN ${v} IS NULL THEN NULL WHEN lower(trim(${v})) IN ('false', '0') THEN 0 ELSE 1 END::UTINYINT`;
    case 'int8':
    case 'int32':
    case 'int64':
    case 'uint8':
    case 'uint32':
    case 'uint64': {
      // try_cast alone would round '1.5' to 2; a value must be a whole number to load. Most
      // values print back as themselves, which proves it at a third of the pattern's cost.
      const cast = `try_cast(${v} AS ${SCALAR_DUCKDB_TYPES[c.type]})`;
      return `CASE WHEN ${cast}::VARCHAR = ${v} OR regexp_full_match(${v}, ${INTEGER_PATTERN}) THEN ${cast} END`;
    }
    case 'datetime':
    case 'datetime64':
      return rangeChecked(c, truncateTo(c, goLayoutParseSql(c.format!, v)));
    case 'epoch':
      return rangeChecked(c, truncateTo(c, epochSql(c.format as EpochUnit, v)));
    case 'array':
      return `list_transform(${jsonList(v)}, lambda __inlet_e: ${convertSql(c.elements[0]!, '__inlet_e')})`;
    case 'map': {
      const [k, val] = c.elements as [ValueType, ValueType];
      return `map_from_entries(list_transform(map_entries(${jsonMap(v)}), lambda __inlet_e: {'key': ${convertSql(k, '__inlet_e.key')}, 'value': ${convertSql(val, '__inlet_e.value')}}))`;
    }
  }
}

/** A double, NULL where it is infinite though the text did not say so: `1e400` is out of range (Go's ParseFloat fails on it), `inf` is infinity. */
const finiteUnlessSaid = (parsed: string, v: string) => `CASE WHEN isinf(${parsed}) AND NOT contains(lower(${v}), 'inf') THEN NULL ELSE ${parsed} END`;

/** Below this, a double holds every whole number exactly (2^53). */
const EXACT_IN_DOUBLE = 9_007_199_254_740_992;

/**
 * An epoch number as a TIMESTAMP. Whole numbers are read exactly (a double loses nanoseconds);
 * the integer cast would round a fraction or an exponent instead of failing, so those are read
 * as doubles. Both casts accept surrounding spaces and tabs, as the integer columns do.
 * In a unit of whole microseconds or more, a number whose value and microseconds are both
 * below 2^53 (every such epoch of the next centuries) is the same through a double, which is
 * read at a fraction of the cost of the checks and the 128-bit arithmetic the others need.
 * Nanoseconds always take the exact path: a double would not hold their last digits. A decimal
 * is rounded to the microsecond (a double's noise would take 1.000001 s a microsecond down),
 * and the column's resolution then truncates it.
 */
function epochSql(unit: EpochUnit, v: string): string {
  const { mul, div } = EPOCH_TO_MICROS[unit];
  const double = `try_cast(${v} AS DOUBLE)`;
  const scaled = `${double} * ${mul} / ${div}`;
  const whole = `CASE WHEN NOT (contains(${v}, '.') OR contains(${v}, 'e') OR contains(${v}, 'E')) THEN try_cast(${v} AS HUGEINT) * ${mul} // ${div} END`;
  const exact = `try(make_timestamp(try_cast(coalesce(${whole}, round(${scaled})) AS BIGINT)))`;
  const parsed = div !== 1 ? exact : `CASE WHEN abs(${double}) < ${EXACT_IN_DOUBLE} AND abs(${scaled}) < ${EXACT_IN_DOUBLE} THEN make_timestamp(round(${scaled})::BIGINT) ELSE ${exact} END`;
  // Every epoch time is from 1970 on: a negative number is before the range, however small (the
  // division and the rounding above would make -1 ns or -0.4 µs the epoch itself).
  return `CASE WHEN ${double} < 0 THEN NULL ELSE ${parsed} END`;
}

function rangeChecked(c: ValueType, ts: string): string {
  return `CASE WHEN ${ts} BETWEEN ${(c.type === 'datetime64' ? TIME_RANGE.datetime64 : TIME_RANGE.datetime).join(' AND ')} THEN ${ts} END`;
}

const jsonList = (v: string) => `try_cast(try_cast(${v} AS JSON) AS VARCHAR[])`;
const jsonMap = (v: string) => `try_cast(try_cast(${v} AS JSON) AS MAP(VARCHAR, VARCHAR))`;

/** True when an array or map parsed but one of its elements did not convert: the whole value is bad. */
function badElementSql(c: ValueType, v: string, converted: string): string | undefined {
  if (c.type === 'array') {
    return `list_bool_or(list_transform(list_zip(${jsonList(v)}, ${converted}), lambda __inlet_p: __inlet_p[1] IS NOT NULL AND __inlet_p[2] IS NULL))`;
  }
  if (c.type === 'map') {
    const [k, val] = c.elements as [ValueType, ValueType];
    return `list_bool_or(list_transform(map_entries(${jsonMap(v)}), lambda __inlet_e: ${convertSql(k, '__inlet_e.key')} IS NULL OR (__inlet_e.value IS NOT NULL AND ${convertSql(val, '__inlet_e.value')} IS NULL)))`;
  }
  return undefined;
}

const sqlText = (s: string) => s.replaceAll("'", "''");

function timestampLiteral(ms: number): string {
  return `TIMESTAMP '${new Date(ms).toISOString().replace('T', ' ').replace('Z', '')}'`;
}

/** The reason a converted value breaks the column's limits, or NULL. */
function limitReasonSql(c: OutputColumn, v: string, nowMs: number): string | undefined {
  const l = c.limits;
  if (!l) return undefined;
  const name = sqlText(c.name);
  const checks: string[] = [];
  if (l.min !== undefined) checks.push(`WHEN ${v} < ${l.min} THEN 'column "${name}": ' || ${v}::VARCHAR || ' is below the limit min ${l.min}'`);
  if (l.max !== undefined) checks.push(`WHEN ${v} > ${l.max} THEN 'column "${name}": ' || ${v}::VARCHAR || ' is above the limit max ${l.max}'`);
  if (l.pastSeconds !== undefined) {
    const oldest = timestampLiteral(nowMs - l.pastSeconds * 1000);
    checks.push(`WHEN ${v} < ${oldest} THEN 'column "${name}": ' || ${v}::VARCHAR || ' is older than the limit past (before ' || ${oldest}::VARCHAR || ')'`);
  }
  if (l.futureSeconds !== undefined) {
    const newest = timestampLiteral(nowMs + l.futureSeconds * 1000);
    checks.push(`WHEN ${v} > ${newest} THEN 'column "${name}": ' || ${v}::VARCHAR || ' is newer than the limit future (after ' || ${newest}::VARCHAR || ')'`);
  }
  return checks.length === 0 ? undefined : `CASE ${checks.join(' ')} END`;
}

function typeLabel(c: ValueType): string {
  if (c.type === 'array') return `array(${typeLabel(c.elements[0]!)})`;
  if (c.type === 'map') return `map(${typeLabel(c.elements[0]!)}, ${typeLabel(c.elements[1]!)})`;
  return c.format ? `${c.type} (format ${c.format})` : c.type;
}

/**
 * A column's conversion as a parse and a check of the parsed value, for the types whose check
 * reads the value more than once. In successive projections, the parse runs once per value with
 * no subexpression written twice, so DuckDB's common-subexpression pass has nothing to do: with
 * one such subexpression per column it grows with the square of the columns, and conversion
 * engines turn it off (the conversion options in duckdb/instances.ts).
 */
function stepsOf(c: ValueType, v: string): { parse: string; check: ((parsed: string) => string) | undefined } {
  switch (c.type) {
    case 'int8':
    case 'int32':
    case 'int64':
    case 'uint8':
    case 'uint32':
    case 'uint64':
      // As convertSql: a value must be a whole number, proven by printing back or by the pattern.
      return { parse: `try_cast(${v} AS ${SCALAR_DUCKDB_TYPES[c.type]})`, check: (p) => `CASE WHEN ${p}::VARCHAR = ${v} OR regexp_full_match(${v}, ${INTEGER_PATTERN}) THEN ${p} END` };
    case 'double':
      return { parse: `try_cast(${v} AS DOUBLE)`, check: (p) => finiteUnlessSaid(p, v) };
    case 'datetime':
    case 'datetime64':
      return { parse: truncateTo(c, goLayoutParseSql(c.format!, v)), check: (p) => rangeChecked(c, p) };
    case 'epoch':
      return { parse: truncateTo(c, epochSql(c.format as EpochUnit, v)), check: (p) => rangeChecked(c, p) };
    default:
      return { parse: convertSql(c, v), check: undefined };
  }
}

/**
 * The SELECT that reads the files and yields one row per input record: the converted, stored
 * columns, the source file's index, and the reason the record is rejected (NULL when it loads).
 */
export function compileSelect(t: Transform, o: ReadOptions): string {
  const cols = t.columns;
  const inner = o.staged ? `SELECT * FROM ${o.staged}` : readSql(t, o);
  const pointers = jsonPointers(t);
  const isJson = o.shape !== 'csv';
  // trim copies every line it is given: only a line not opening an object can be blank. A blank
  // line holds JSON's whitespace only (a lone "\r" is a space by then, see line-endings.ts).
  const blank = `${LINE_COLUMN} IS NULL OR CASE WHEN starts_with(${LINE_COLUMN}, '{') THEN false ELSE trim(${LINE_COLUMN}, ' ' || chr(9) || chr(13)) = '' END`;
  // Valid JSON opening with "{" is an object: the type is looked up (another parse) only for other lines.
  const isObject = `CASE WHEN NOT json_valid(${LINE_COLUMN}) THEN false WHEN starts_with(${LINE_COLUMN}, '{') THEN true ELSE json_type(${LINE_COLUMN}) = 'OBJECT' END`;
  const rawFrom = isJson
    ? `SELECT *, ${blank} AS ${BLANK_COLUMN}, ` + `CASE WHEN ${isObject} THEN json_extract_string(${LINE_COLUMN}, [${pointers.all.map(quoteLiteral).join(', ')}]::VARCHAR[]) END AS __inlet_fields FROM (${inner})`
    : `SELECT *, false AS ${BLANK_COLUMN} FROM (${inner})`;
  // JSON values are picked out of the field list once, as columns: normalising reads each up to three times.
  const picked = isJson ? cols.map((c, i) => (c.source.kind === 'catch_all' ? undefined : `${rawValueSql(t, c, pointers.of, o.csvFieldCount)} AS __inlet_r${i}`)) : [];
  const rawOf = (c: OutputColumn, i: number) => (picked[i] !== undefined ? `__inlet_r${i}` : rawValueSql(t, c, pointers.of, o.csvFieldCount));
  const normalised = cols.map((c, i) => `${normalisedSql(t, c, rawOf(c, i))} AS __inlet_n${i}`);
  const steps = cols.map((c, i) => (c.source.kind === 'catch_all' ? { parse: `__inlet_n${i}`, check: undefined } : stepsOf(c, `__inlet_n${i}`)));
  const parsed = steps.map((step, i) => `${step.parse} AS ${step.check ? `__inlet_p${i}` : `__inlet_c${i}`}`);
  const checked = steps.flatMap((step, i) => (step.check ? [`${step.check(`__inlet_p${i}`)} AS __inlet_c${i}`] : []));
  const limitReasons = cols.map((c, i) => limitReasonSql(c, `__inlet_c${i}`, o.nowMs));
  const limited = limitReasons.flatMap((reason, i) => (reason === undefined ? [] : [`${reason} AS __inlet_l${i}`]));
  // Only checks that can fire are spelled out: a string is never unconvertible, a column without
  // limits never breaks one (every WHEN costs a pass over the chunk).
  const reasons = cols.flatMap((c, i) => {
    const shown = c.source.kind === 'catch_all' ? `''` : `left(__inlet_n${i}, 200)`;
    const bad = `'column "${sqlText(c.name)}": cannot convert ''' || ${shown} || ''' to ${sqlText(typeLabel(c))}'`;
    const badElement = badElementSql(c, `__inlet_n${i}`, `__inlet_c${i}`);
    const converts = c.source.kind !== 'catch_all' && c.type !== 'string';
    const checks = [
      c.primary ? `WHEN __inlet_n${i} IS NULL THEN 'column "${sqlText(c.name)}": the primary timestamp is missing'` : '',
      converts ? `WHEN __inlet_n${i} IS NOT NULL AND __inlet_c${i} IS NULL THEN ${bad}` : '',
      badElement ? `WHEN __inlet_c${i} IS NOT NULL AND ${badElement} THEN ${bad}` : '',
      limitReasons[i] !== undefined && c.limits!.action !== 'null' ? `WHEN __inlet_l${i} IS NOT NULL THEN __inlet_l${i}` : '',
    ].filter(Boolean);
    return checks.length === 0 ? [] : [`CASE ${checks.join(' ')} END`];
  });
  if (isJson)
    reasons.unshift(`CASE WHEN __inlet_fields IS NULL THEN 'record ' || (CASE WHEN json_valid(${LINE_COLUMN}) THEN 'is JSON but not an object' ELSE 'is not valid JSON' END) || ': ' || left(${LINE_COLUMN}, 100) END`);
  const storedValues = cols.flatMap((c, i) =>
    c.ignore ? [] : [{ i, name: c.name, value: limitReasons[i] !== undefined && c.limits!.action === 'null' ? `CASE WHEN __inlet_l${i} IS NULL THEN __inlet_c${i} END` : `__inlet_c${i}` }],
  );
  const stored = storedValues.map((v) => `${v.value} AS ${quoteIdent(v.name)}`);
  // Every projection is as wide as the columns it passes on, and DuckDB gives each a buffer per
  // column: each passes on only what later ones read, or wide transforms ran out of memory.
  // A CSV record's raw text is made of its fields, carried to where the reason is known.
  const rawFields = o.rawText !== undefined && !isJson ? Array.from({ length: o.csvFieldCount }, (_, i) => `c${i}`) : [];
  const passed = [FILE_COLUMN, BLANK_COLUMN, ...(isJson ? [LINE_COLUMN, '__inlet_fields'] : []), ...rawFields];
  const normalisedColumns = cols.map((_, i) => `__inlet_n${i}`);
  const convertedColumns = steps.flatMap((step, i) => (step.check ? [] : [`__inlet_c${i}`]));
  const withColumns = (columns: readonly string[], from: string) => (columns.length === 0 ? from : `(SELECT *, ${columns.join(', ')} FROM ${from})`);
  const normalisedFrom = `(SELECT ${[...passed, ...normalised].join(', ')} FROM ${withColumns(
    picked.filter((p) => p !== undefined),
    `(${rawFrom})`,
  )})`;
  const parsedFrom = `(SELECT *, ${parsed.join(', ')} FROM ${normalisedFrom})`;
  const checkedFrom = checked.length === 0 ? parsedFrom : `(SELECT ${[...passed, ...normalisedColumns, ...convertedColumns, ...checked].join(', ')} FROM ${parsedFrom})`;
  const reason = `CASE WHEN ${BLANK_COLUMN} THEN NULL ELSE ${reasons.length === 0 ? 'NULL::VARCHAR' : `coalesce(${reasons.join(', ')})`} END AS ${REASON_COLUMN}`;
  const select = `SELECT ${FILE_COLUMN}, ${BLANK_COLUMN}, ${stored.join(', ')}, ${reason}`;
  if (o.rawText === undefined) return `${select}, NULL::VARCHAR AS ${RAW_COLUMN} FROM ${withColumns(limited, checkedFrom)}`;
  // One more projection, so the raw text is put together for the rejected records only. Its
  // stored columns keep names of Inlet's until then: a column named as a field (c0, c1, ...) would hide it.
  const carried = [...(isJson ? [LINE_COLUMN] : []), ...rawFields];
  const beforeRaw = `SELECT ${FILE_COLUMN}, ${BLANK_COLUMN}, ${storedValues.map((v) => `${v.value} AS __inlet_s${v.i}`).join(', ')}, ${reason}`;
  const names = [FILE_COLUMN, BLANK_COLUMN, ...storedValues.map((v) => `__inlet_s${v.i} AS ${quoteIdent(v.name)}`), REASON_COLUMN];
  return `SELECT ${names.join(', ')}, CASE WHEN ${REASON_COLUMN} IS NOT NULL THEN ${o.rawText} END AS ${RAW_COLUMN} FROM (${beforeRaw}, ${carried.join(', ')} FROM ${withColumns(limited, checkedFrom)})`;
}

const INTEGER_TYPES: ReadonlySet<ColumnType> = new Set(['int8', 'int32', 'int64', 'uint8', 'uint32', 'uint64']);
const isTime = (c: ValueType) => c.type === 'datetime' || c.type === 'datetime64' || c.type === 'epoch';

/**
 * A sql_transform's rows as the table stores them, from `from` (its output): each stored column
 * it made cast to the column's type, a time truncated to the column's resolution, with the type's
 * range and the column's limits applied again (the SELECT can make any value, as
 * `ts + INTERVAL 300 YEAR`), and the reason a row breaks them in REASON_COLUMN (NULL when it
 * fits). A stored column it did not make is NULL; `passed` columns of its output are kept.
 */
export function fittedRowsSql(t: Transform, made: ReadonlySet<string>, from: string, passed: readonly string[], nowMs: number): string {
  const stored = t.columns.filter((c) => !c.ignore);
  const fitted = stored.map((c, i) => {
    if (!made.has(c.name)) return `NULL::${duckdbType(c)} AS __inlet_f${i}`;
    const v = quoteIdent(c.name);
    const cast = `try_cast(${v} AS ${duckdbType(c)})`;
    // DuckDB rounds a fraction it casts to a whole number (1.7 is 2); converted input rejects it.
    const whole = `CASE WHEN try_cast(${v} AS DOUBLE) = trunc(try_cast(${v} AS DOUBLE)) THEN ${cast} END`;
    return `${isTime(c) ? rangeChecked(c, truncateTo(c, cast)) : INTEGER_TYPES.has(c.type) ? whole : cast} AS __inlet_f${i}`;
  });
  const limitReasons = stored.map((c, i) => limitReasonSql(c, `__inlet_f${i}`, nowMs));
  const limited = limitReasons.flatMap((reason, i) => (reason === undefined ? [] : [`${reason} AS __inlet_l${i}`]));
  const reasons = stored.flatMap((c, i) => {
    const checks = [
      made.has(c.name)
        ? `WHEN ${quoteIdent(c.name)} IS NOT NULL AND __inlet_f${i} IS NULL THEN 'column "${sqlText(c.name)}": the sql_transform made ''' || left(${quoteIdent(c.name)}::VARCHAR, 200) || ''', which ${c.type} cannot hold'`
        : '',
      limitReasons[i] !== undefined && c.limits!.action !== 'null' ? `WHEN __inlet_l${i} IS NOT NULL THEN __inlet_l${i}` : '',
    ].filter(Boolean);
    return checks.length === 0 ? [] : [`CASE ${checks.join(' ')} END`];
  });
  const values = stored.map((c, i) => `${limitReasons[i] !== undefined && c.limits!.action === 'null' ? `CASE WHEN __inlet_l${i} IS NULL THEN __inlet_f${i} END` : `__inlet_f${i}`} AS ${quoteIdent(c.name)}`);
  const reason = reasons.length === 0 ? 'NULL::VARCHAR' : `coalesce(${reasons.join(', ')})`;
  const withFitted = `(SELECT *, ${fitted.join(', ')} FROM ${from})`;
  return `SELECT ${[...values, ...passed].join(', ')}, ${reason} AS ${REASON_COLUMN} FROM ${limited.length === 0 ? withFitted : `(SELECT *, ${limited.join(', ')} FROM ${withFitted})`}`;
}

/** The stored columns and their DuckDB types, in order: the table's schema as this transform writes it. */
export function storedColumns(t: Transform): { name: string; type: string }[] {
  return t.columns.filter((c) => !c.ignore).map((c) => ({ name: c.name, type: duckdbType(c) }));
}

/** The stored columns as a short key: partitions with equal keys hold files of one schema. */
export function schemaKey(t: Transform): string {
  return createHash('sha256')
    .update(JSON.stringify(storedColumns(t)))
    .digest('hex')
    .slice(0, 16);
}
