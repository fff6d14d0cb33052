import { goLayoutParseSql } from './go-layout.js';
import type { EpochUnit, OutputColumn, ScalarType, Transform } from './model.js';

/** DuckDB types for the stored columns. Booleans are stored as 0/1 UTINYINT, as Hydrolix stores them. */
export const DUCKDB_TYPES: Record<ScalarType, string> = {
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

export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
export const quoteLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;

/** Names of the bookkeeping columns of the converted relation; user columns never start with `__inlet`. */
export const FILE_COLUMN = '__inlet_file';
export const REASON_COLUMN = '__inlet_reason';
export const BLANK_COLUMN = '__inlet_blank';

export interface ReadOptions {
  readonly files: readonly string[];
  /** Fields per CSV record; records with another count are rejected by the reader. */
  readonly csvFieldCount: number;
  /** Names DuckDB's reject tables for this read, so several reads on one connection stay apart. */
  readonly rejectsName: string;
  /** The task-wide number of each file, so reads of several file groups share one numbering. */
  readonly fileNumbers: readonly number[];
}

const EPOCH_TO_MICROS: Record<EpochUnit, { mul: number; div: number }> = {
  s: { mul: 1_000_000, div: 1 },
  cs: { mul: 10_000, div: 1 },
  ms: { mul: 1_000, div: 1 },
  us: { mul: 1, div: 1 },
  ns: { mul: 1, div: 1_000 },
};

const INTEGER_PATTERN = quoteLiteral('\\s*[+-]?[0-9]+\\s*');

/** The reader: every field as VARCHAR, conversions happen later so a bad value rejects one row, not the file. */
function readSql(t: Transform, o: ReadOptions): string {
  const files = `[${o.files.map(quoteLiteral).join(', ')}]`;
  const fileNumber = `[${o.fileNumbers.join(', ')}][file_index::BIGINT + 1]`;
  const common = `header=false, auto_detect=false, store_rejects=true, rejects_table=${quoteLiteral(`${o.rejectsName}_errors`)}, rejects_scan=${quoteLiteral(`${o.rejectsName}_scans`)}`;
  if (t.type === 'json') {
    // One VARCHAR per line: a delimiter and quote that never occur in JSON text keep each line whole.
    return `SELECT ${fileNumber} AS ${FILE_COLUMN}, line AS __inlet_line FROM read_csv(${files}, columns={'line': 'VARCHAR'}, delim=E'\\x01', quote='', escape='', ${common})`;
  }
  const columns = Array.from({ length: o.csvFieldCount }, (_, i) => `'c${i}': 'VARCHAR'`).join(', ');
  const comment = t.csv.comment ? `, comment=${quoteLiteral(t.csv.comment)}` : '';
  return (
    `SELECT ${fileNumber} AS ${FILE_COLUMN}, * FROM read_csv(${files}, columns={${columns}}, ` +
    `delim=${quoteLiteral(t.csv.delimiter)}, quote=${quoteLiteral(t.csv.quote)}, escape=${quoteLiteral(t.csv.escape)}, skip=${t.csv.skipHead}${comment}, ${common})`
  );
}

function rawValueSql(c: OutputColumn, index: number, csvFieldCount: number): string {
  if ('index' in c.source) return c.source.index < csvFieldCount ? `c${c.source.index}` : 'NULL';
  // JSON fields come from one json_extract_string call per line, in column order.
  return `__inlet_fields[${index + 1}]`;
}

function jsonPath(field: string): string {
  return `$."${field.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** Missing, empty and null-valued inputs become the column's default (as if it were the input) or NULL. */
function normalisedSql(t: Transform, c: OutputColumn, raw: string): string {
  const nulls = ["''", ...t.nullValues.filter((v) => v !== '').map(quoteLiteral)];
  const fallback = c.default === undefined ? 'NULL' : quoteLiteral(c.default);
  return `CASE WHEN ${raw} IS NULL OR ${raw} IN (${nulls.join(', ')}) THEN ${fallback} ELSE ${raw} END`;
}

function truncateTo(c: OutputColumn, ts: string): string {
  return c.resolution === 'ms' ? `date_trunc('millisecond', ${ts})` : `date_trunc('second', ${ts})`;
}

/** Converts a VARCHAR to the column's type, yielding NULL (never an error) when it cannot. */
export function convertSql(c: OutputColumn, v: string): string {
  switch (c.type) {
    case 'string':
      return v;
    case 'double':
      return `try_cast(${v} AS DOUBLE)`;
    case 'boolean':
      return `CASE WHEN ${v} IS NULL THEN NULL WHEN lower(trim(${v})) IN ('false', '0') THEN 0 ELSE 1 END::UTINYINT`;
    case 'int8':
    case 'int32':
    case 'int64':
    case 'uint8':
    case 'uint32':
    case 'uint64':
      // try_cast alone would round '1.5' to 2; a value must be a whole number to load.
      return `CASE WHEN regexp_full_match(${v}, ${INTEGER_PATTERN}) THEN try_cast(trim(${v}) AS ${DUCKDB_TYPES[c.type]}) END`;
    case 'datetime':
    case 'datetime64':
      return truncateTo(c, goLayoutParseSql(c.format!, v));
    case 'epoch': {
      const { mul, div } = EPOCH_TO_MICROS[c.format as EpochUnit];
      const whole = `try_cast(trim(${v}) AS HUGEINT)`;
      const micros = `CASE WHEN ${whole} IS NOT NULL THEN ${whole} * ${mul} // ${div} ELSE round(try_cast(${v} AS DOUBLE) * ${mul} / ${div}) END`;
      return truncateTo(c, `try(make_timestamp(try_cast(${micros} AS BIGINT)))`);
    }
  }
}

/**
 * The SELECT that reads the files and yields one row per input record: the converted, stored
 * columns, the source file's index, and the reason the record is rejected (NULL when it loads).
 */
export function compileSelect(t: Transform, o: ReadOptions): string {
  const cols = t.columns;
  const inner = readSql(t, o);
  const rawFrom =
    t.type === 'json'
      ? `SELECT *, __inlet_line IS NULL OR trim(__inlet_line) = '' AS ${BLANK_COLUMN}, ` +
        `CASE WHEN json_valid(__inlet_line) AND json_type(__inlet_line) = 'OBJECT' THEN json_extract_string(__inlet_line, [${cols
          .map((c) => quoteLiteral(jsonPath('field' in c.source ? c.source.field : c.name)))
          .join(', ')}]) END AS __inlet_fields FROM (${inner})`
      : `SELECT *, false AS ${BLANK_COLUMN} FROM (${inner})`;
  const normalised = cols.map((c, i) => `${normalisedSql(t, c, rawValueSql(c, i, o.csvFieldCount))} AS __inlet_n${i}`);
  const converted = cols.map((c, i) => `${convertSql(c, `__inlet_n${i}`)} AS __inlet_v${i}`);
  const reasons = cols.map((c, i) => {
    const shown = `left(__inlet_n${i}, 200)`;
    const bad = `'column "${c.name.replaceAll("'", "''")}": cannot convert ''' || ${shown} || ''' to ${c.type}${c.format ? ` (format ${c.format.replaceAll("'", "''")})` : ''}'`;
    const missing = c.primary ? `WHEN __inlet_n${i} IS NULL THEN 'column "${c.name.replaceAll("'", "''")}": the primary timestamp is missing'` : '';
    return `CASE ${missing} WHEN __inlet_n${i} IS NOT NULL AND __inlet_v${i} IS NULL THEN ${bad} END`;
  });
  if (t.type === 'json') reasons.unshift(`CASE WHEN __inlet_fields IS NULL THEN 'the line is not a JSON object' END`);
  const stored = cols.flatMap((c, i) => (c.ignore ? [] : [`__inlet_v${i} AS ${quoteIdent(c.name)}`]));
  return (
    `SELECT ${FILE_COLUMN}, ${BLANK_COLUMN}, ${stored.join(', ')}, ` +
    `CASE WHEN ${BLANK_COLUMN} THEN NULL ELSE coalesce(${reasons.join(', ')}) END AS ${REASON_COLUMN} ` +
    `FROM (SELECT *, ${converted.join(', ')} FROM (SELECT *, ${normalised.join(', ')} FROM (${rawFrom})))`
  );
}

/** The stored columns and their DuckDB types, in order: the table's schema as this transform writes it. */
export function storedColumns(t: Transform): { name: string; type: string }[] {
  return t.columns.filter((c) => !c.ignore).map((c) => ({ name: c.name, type: DUCKDB_TYPES[c.type] }));
}
