import { open } from 'node:fs/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import { queryRows } from '../duckdb/engine.js';
import { ACCEPTED_FILTER, BUNDLE_PREFIX_BYTES, FILE_COLUMN, LINE_COLUMN, RAW_COLUMN, REASON_COLUMN, ROW_COLUMN } from '../transform/bookkeeping.js';
import { quoteLiteral, readSql } from '../transform/compile.js';
import type { Transform } from '../transform/model.js';
import type { ReadGroup } from './convert.js';
import { recordEnd } from './csv-fields.js';

/** Why a row the sql_transform left out is rejected. */
export const DROPPED_BY_SQL_TRANSFORM = 'dropped by sql_transform (filtered out, or a NULL primary timestamp)';
/** Why a row is rejected that the sql_transform gave a value its column cannot hold. */
export const UNFIT_FROM_SQL_TRANSFORM = 'rejected: the sql_transform gave a value its column cannot hold';

/** The record format of a quarantined row's raw text, by read shape. */
export const RAW_FORMAT = { csv: 'csv', lines: 'ndjson', array: 'json', objects: 'json' } as const;

/** What one chunk's conversion left behind, for naming every rejected record. */
export interface ChunkTables {
  readonly connection: DuckDBConnection;
  readonly transform: Transform;
  readonly groups: readonly ReadGroup[];
  /** Every record read, converted, in reading order (see convertFiles). */
  readonly converted: string;
  readonly accepted: string;
  /** Per file, the lines the reader refused (f, t): each moves the records after it one line down. */
  readonly shiftsTable: string;
  /** The records judged before DuckDB read the files, if any were (see convert.ts judgedRecords). */
  readonly judgedTable: string | undefined;
  /** The reject tables of the group at the same index (DuckDB's `<name>_errors`); none for a group read strictly (ReadGroup.unjudged). */
  readonly rejectsNames: readonly (string | undefined)[];
  /** The sql_transform's rows fitted to the table's columns, with the reason a row did not fit (see fittedRowsSql); absent without one. */
  readonly fittedTable: string | undefined;
  /** Whether the rows a sql_transform dropped can be named (it kept the row id column). */
  readonly droppedTraceable: boolean;
  /** Names this module's tables apart from other chunks'. */
  readonly id: string;
  /** Statements dropping what is created here, run with the chunk's drop. */
  readonly drops: string[];
}

/** The chunk's rejected records, at most `limit`, in a table of (f, line, column, reason, raw, format), and how many each file keeps. */
export interface KeptRejects {
  readonly table: string;
  /** Per file of the chunk (its number), the rejected records kept. */
  readonly kept: number[];
}

/**
 * Collects every rejected record of a chunk with its file, line, column, reason and raw text:
 * records judged before DuckDB (long lines, too long to keep: their raw text is NULL; misfit
 * records, their text kept within MISFIT_RAW_BYTES per file), records the
 * reader refused (DuckDB keeps their line), records whose conversion failed and rows the
 * sql_transform dropped. The scan kept the raw text of failed conversions (scanRawText); rows
 * the sql_transform dropped, and the failed records of scans too wide to keep it, are read again
 * from only the files that have them, so a chunk without rejects costs nothing here.
 */
export async function collectRejects(c: ChunkTables, limit: number): Promise<KeptRejects> {
  const { connection, transform, groups } = c;
  const table = `inlet_kept_rejects_${c.id}`;
  c.drops.push(`DROP TABLE IF EXISTS ${table}`);
  // Each part selects (f, line, column, reason, raw, format); the kept table is made from all of them at once.
  const parts: string[] = [];
  const original = (fileSql: string, lineSql: string) => originalLineSql(groups, fileSql, lineSql);

  if (c.judgedTable) parts.push(`SELECT f, line, "column", reason, raw, format FROM ${c.judgedTable}`);

  for (const [g, group] of groups.entries()) {
    const rejectsName = c.rejectsNames[g];
    if (group.shape === 'array' || group.shape === 'objects' || rejectsName === undefined) continue;
    await restoreCutRecords(connection, transform, group, `${rejectsName}_errors`, limit);
    const fileOf = `[${group.numbers.join(', ')}][file_id::BIGINT + 1]`;
    parts.push(
      `SELECT ${fileOf}, ${original(fileOf, 'line')}, ${readerColumnSql(transform, 'column_name')}, ${readerReasonSql(group.maxLineBytes)}, ltrim(csv_line, chr(13) || chr(10)), '${RAW_FORMAT[group.shape]}'
       FROM (SELECT file_id, line, arg_min(column_name, coalesce(column_idx, -1)) AS column_name, arg_min(error_type, coalesce(column_idx, -1))::VARCHAR AS error_type,
                    arg_min(error_message, coalesce(column_idx, -1)) AS error_message, arg_min(csv_line, coalesce(column_idx, -1)) AS csv_line
             FROM ${rejectsName}_errors GROUP BY file_id, line)`,
    );
  }

  // Records of the converted table, numbered from 1 per file in reading order, as a re-read numbers them.
  const dropped = c.fittedTable !== undefined && c.droppedTraceable;
  const failed =
    `SELECT ${FILE_COLUMN} AS f, rowid AS r, ${REASON_COLUMN} AS reason, ${RAW_COLUMN} AS raw FROM ${c.converted} WHERE ${REASON_COLUMN} IS NOT NULL` +
    (dropped
      ? ` UNION ALL SELECT d.f, d.r, coalesce(u.reason, ${quoteLiteral(DROPPED_BY_SQL_TRANSFORM)}), NULL
          FROM (SELECT ${FILE_COLUMN} AS f, rowid AS r FROM ${c.converted} WHERE ${ACCEPTED_FILTER} AND rowid NOT IN (SELECT ${ROW_COLUMN} FROM ${c.accepted} WHERE ${ROW_COLUMN} IS NOT NULL)) d
          LEFT JOIN (SELECT ${ROW_COLUMN} AS r, ${REASON_COLUMN} AS reason FROM ${c.fittedTable} WHERE ${REASON_COLUMN} IS NOT NULL) u USING (r)`
      : '');
  const bad = `inlet_bad_${c.id}`;
  c.drops.push(`DROP TABLE IF EXISTS ${bad}`);
  await connection.run(
    `CREATE TEMP TABLE ${bad} AS SELECT b.f, b.r - first.r + 1 AS record, b.reason, b.raw FROM (${failed}) b
     JOIN (SELECT ${FILE_COLUMN} AS f, min(rowid) AS r FROM ${c.converted} GROUP BY ALL) first USING (f)`,
  );
  // Files whose every failed record kept its raw text in the scan are not read again.
  const files = await queryRows<{ f: number; again: boolean }>(connection, `SELECT f, bool_or(raw IS NULL) AS again FROM ${bad} GROUP BY f`);
  const withBad = new Set(files.map((r) => Number(r.f)));
  const readAgain = new Set(files.filter((r) => r.again).map((r) => Number(r.f)));
  // Most files have no line the reader refused: their records are placed without a lookup per record.
  const shifted = new Set((await queryRows<{ f: bigint }>(connection, `SELECT DISTINCT f FROM ${c.shiftsTable}`)).map((r) => Number(r.f)));
  for (const [g, group] of groups.entries()) {
    const present = group.numbers.filter((n) => withBad.has(n));
    if (present.length === 0) continue;
    const lineBased = group.shape === 'csv' || group.shape === 'lines';
    const skip = group.shape === 'csv' ? transform.csv.skipHead : 0;
    // Header lines and the lines the reader refused come before a record (see placeOnLines).
    const upto = `(b.record + ${skip})`;
    const shifts = present.some((n) => shifted.has(n)) ? ` + (SELECT count(*) FROM ${c.shiftsTable} s WHERE s.f = b.f AND s.t <= ${upto})` : '';
    const line = lineBased ? original('b.f', `${upto}${shifts}`) : 'b.record';
    const column = `CASE WHEN b.reason = ${quoteLiteral(DROPPED_BY_SQL_TRANSFORM)} THEN NULL ELSE regexp_extract(b.reason, '^column "((?:[^"]|"")*)"', 1) END`;
    parts.push(`SELECT b.f, ${line}, ${column}, b.reason, b.raw, '${RAW_FORMAT[group.shape]}' FROM ${bad} b WHERE b.raw IS NOT NULL AND b.f IN (${present.join(', ')})`);

    const picked = group.numbers.flatMap((n, j) => (readAgain.has(n) ? [j] : []));
    if (picked.length === 0) continue;
    if (group.csvFieldCount > (await rawTextMaxFields(connection))) {
      parts.push(`SELECT b.f, ${line}, ${column}, b.reason, NULL, '${RAW_FORMAT[group.shape]}' FROM ${bad} b WHERE b.raw IS NULL AND b.f IN (${picked.map((j) => group.numbers[j]).join(', ')})`);
      continue;
    }
    const raw = `inlet_raw_${c.id}_${g}`;
    c.drops.push(`DROP TABLE IF EXISTS ${raw}`, `DROP TABLE IF EXISTS ${raw}_again_errors`, `DROP TABLE IF EXISTS ${raw}_again_scans`);
    // A bundle is one file: it is read whole, and the join below keeps the picked files' records.
    const read = readSql(transform, {
      files: group.bundleStarts ? group.files : picked.map((j) => group.files[j]!),
      bundled: group.bundleStarts !== undefined,
      fileNumbers: picked.map((j) => group.numbers[j]!),
      shape: group.shape,
      csvFieldCount: group.csvFieldCount,
      rejectsName: `${raw}_again`,
      nowMs: 0,
      maxLineBytes: group.maxLineBytes,
    });
    // Each record's text, not its fields: a table keeps a block per column, and a CSV of thousands of fields ran out of memory.
    await connection.run(`CREATE TEMP TABLE ${raw} AS SELECT ${FILE_COLUMN}, ${rawTextSql(transform, group)} AS __inlet_raw FROM (${read})`);
    parts.push(
      `SELECT b.f, ${line}, ${column}, b.reason, r.__inlet_raw, '${RAW_FORMAT[group.shape]}'
       FROM ${bad} b JOIN (SELECT *, rowid - min(rowid) OVER (PARTITION BY ${FILE_COLUMN}) + 1 AS __inlet_record FROM ${raw}) r ON r.${FILE_COLUMN} = b.f AND r.__inlet_record = b.record
       WHERE b.raw IS NULL AND b.f IN (${picked.map((j) => group.numbers[j]).join(', ')})`,
    );
  }
  // One statement keeps the first `limit` by file and line: the records are copied once, not gathered and then copied again.
  const all = ['SELECT NULL::INTEGER, NULL::BIGINT, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR WHERE false', ...parts].join('\nUNION ALL ');
  await connection.run(
    `CREATE TEMP TABLE ${table} AS SELECT f::INTEGER AS f, line::BIGINT AS line, nullif("column", '')::VARCHAR AS "column", reason::VARCHAR AS reason, raw::VARCHAR AS raw, format::VARCHAR AS format
     FROM (${all}) a(f, line, "column", reason, raw, format) ORDER BY f, line LIMIT ${Math.max(0, Math.floor(limit))}`,
  );
  const kept: number[] = [];
  for (const r of await queryRows<{ f: number; n: bigint }>(connection, `SELECT f, count(*) AS n FROM ${table} GROUP BY ALL`)) kept[Number(r.f)] = Number(r.n);
  return { table, kept };
}

/**
 * Puts back whole, in the reject table `errors`, the text of refused records DuckDB cut to its
 * first 10,000 characters, read again from the file DuckDB read: the quarantine keeps every
 * rejected record whole, so that a replay loads what the file held. DuckDB's offset of a record
 * is off by a byte or two (by line ending), so the record is found by its first characters.
 */
async function restoreCutRecords(connection: DuckDBConnection, transform: Transform, group: ReadGroup, errors: string, limit: number): Promise<void> {
  const cut = await queryRows<{ f: bigint; line: bigint; at: bigint; head: string }>(
    connection,
    `SELECT file_id AS f, line, any_value(line_byte_position) AS at, left(ltrim(any_value(csv_line), chr(13) || chr(10)), ${ANCHOR_CHARS}) AS head FROM ${errors}
     WHERE length(csv_line) >= ${READER_RECORD_CHARS} GROUP BY ALL ORDER BY f, line LIMIT ${Math.max(0, Math.floor(limit))}`,
  );
  if (cut.length === 0) return;
  const statement = await connection.prepare(`UPDATE ${errors} SET csv_line = $1 WHERE file_id = $2 AND line = $3`);
  for (const r of cut) {
    // A bundle is one file of prefixed lines (bundle.ts): the offset is the bundle's.
    const file = group.bundleStarts ? group.files[0]! : group.files[Number(r.f)]!;
    const from = Math.max(0, Number(r.at) - ANCHOR_SLACK);
    const text = await bytesAt(file, from, group.maxLineBytes + BUNDLE_PREFIX_BYTES + 2 * ANCHOR_SLACK);
    const start = text.indexOf(r.head);
    if (start < 0 || start > BUNDLE_PREFIX_BYTES + 2 * ANCHOR_SLACK) continue;
    const newline = text.indexOf('\n', start);
    const end = group.shape === 'csv' ? recordEnd(text, start, transform.csv) : newline < 0 ? text.length : newline;
    statement.bindVarchar(1, text.slice(start, end).replace(/\r$/, ''));
    statement.bindUBigInt(2, r.f);
    statement.bindBigInt(3, r.line);
    await statement.run();
  }
}

/** DuckDB keeps this many characters of a refused record's text (csv_line) at most. */
const READER_RECORD_CHARS = 10_000;
/** The first characters of a cut record that find it in its file, and how far from DuckDB's offset it may start. */
const ANCHOR_CHARS = 200;
const ANCHOR_SLACK = 4;

/** Up to `maxBytes` of the file from byte `offset`, as text. */
async function bytesAt(file: string, offset: number, maxBytes: number): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(Math.min(maxBytes, Math.max(0, (await handle.stat()).size - offset)));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * Columns (the transform's and the CSV fields) past which a failed record's raw text is not
 * carried through the scan but read again: every projection of the scan holds a buffer per
 * column it passes on, and carrying the fields adds a projection (see compileSelect).
 */
const RAW_IN_SCAN_MAX_COLUMNS = 256;

/** What reading one more CSV field takes of DuckDB's memory per thread, at most (measured: docs/benchmarks.md). */
const MEMORY_PER_FIELD = 256 * 1024;
const UNIT_BYTES: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 1024, MIB: 1024 ** 2, GIB: 1024 ** 3, TIB: 1024 ** 4 };

/**
 * Fields of a CSV record past which its text is not put together again for the quarantine (its
 * `raw` is NULL): DuckDB reads every field at once, a vector or more each per thread, and a
 * record wide enough runs a worker out of memory (docs/benchmarks.md). The bound follows the
 * connection's memory limit and threads.
 */
export async function rawTextMaxFields(connection: DuckDBConnection): Promise<number> {
  const [setting] = await queryRows<{ memory: string; threads: bigint }>(connection, `SELECT current_setting('memory_limit') AS memory, current_setting('threads') AS threads`);
  const [, amount, unit] = /^([\d.]+)\s*([A-Za-z]+)$/.exec(setting!.memory.trim()) ?? [];
  const bytes = Number(amount) * (UNIT_BYTES[unit?.toUpperCase() ?? ''] ?? NaN);
  return Number.isFinite(bytes) ? Math.floor(bytes / (Number(setting!.threads) * MEMORY_PER_FIELD)) : RAW_IN_SCAN_MAX_COLUMNS;
}

/** The raw text compileSelect keeps for the group's failed records, or undefined where it is read again (too wide to carry). */
export function scanRawText(t: Transform, group: ReadGroup): string | undefined {
  const width = t.columns.length + (group.shape === 'csv' ? group.csvFieldCount : 0);
  return width > RAW_IN_SCAN_MAX_COLUMNS ? undefined : rawTextSql(t, group);
}

/**
 * The raw text of a record as read: a JSON record's text, or a CSV record's fields joined by the
 * delimiter again, quoted where a field needs it (the same record, perhaps quoted differently).
 */
function rawTextSql(t: Transform, group: ReadGroup): string {
  if (group.shape !== 'csv') return LINE_COLUMN;
  const { delimiter, quote, escape } = t.csv;
  const d = quoteLiteral(delimiter);
  const field = (v: string) => {
    if (quote === '') return `coalesce(${v}, '')`;
    const q = quoteLiteral(quote);
    const special = [d, q, `chr(10)`, `chr(13)`].map((s) => `contains(${v}, ${s})`).join(' OR ');
    return `CASE WHEN ${v} IS NULL THEN '' WHEN ${special} THEN ${q} || replace(${v}, ${q}, ${quoteLiteral(escape || quote)} || ${q}) || ${q} ELSE ${v} END`;
  };
  if (group.csvFieldCount === 0) return `''`;
  // One expression per field, as a chain of `||` or a call of thousands of arguments, passes DuckDB's
  // expression depth or its memory (a vector per expression): the fields go through one lambda.
  const fields = Array.from({ length: group.csvFieldCount }, (_, i) => `c${i}`).join(', ');
  return `array_to_string(list_transform([${fields}], lambda __inlet_v: ${field('__inlet_v')}), ${d})`;
}

/**
 * A line of the file DuckDB read as a line of the original file: each long line taken out
 * before it moves it one down (originalLine in SQL: the k-th removed line L_k moves every line
 * from L_k - (k - 1) on).
 */
function originalLineSql(groups: readonly ReadGroup[], fileSql: string, lineSql: string): string {
  const cases = groups.flatMap((g) =>
    g.droppedLines.flatMap((lines, j) => {
      const removed = lines.filter((l) => l.removed).map((l, k) => l.line - k);
      return removed.length === 0 ? [] : [`WHEN ${g.numbers[j]} THEN len(list_filter([${removed.join(', ')}], x -> x <= l.v))`];
    }),
  );
  if (cases.length === 0) return `(${lineSql})`;
  return `(SELECT l.v + CASE ${fileSql} ${cases.join(' ')} ELSE 0 END FROM (SELECT (${lineSql}) AS v) l)`;
}

/** readerReason of convert.ts, in SQL. */
function readerReasonSql(maxLineBytes: number): string {
  const size = `regexp_extract(error_message, 'Actual Size:\\s*(\\d+)', 1)`;
  return (
    `CASE WHEN error_type = 'LINE SIZE OVER MAXIMUM' AND ${size} <> '' ` +
    `THEN error_type || ': record longer than ${maxLineBytes} bytes (it has ' || ${size} || '): the longest line Inlet reads is INLET_MAX_LINE_BYTES' ` +
    `ELSE error_type || ': ' || error_message END`
  );
}

/** readerColumn of convert.ts, in SQL: the output column a CSV field feeds. */
function readerColumnSql(t: Transform, name: string): string {
  const named = t.columns.flatMap((c) => (c.source.kind === 'index' ? [`WHEN 'c${c.source.index}' THEN ${quoteLiteral(c.name)}`] : []));
  const field = `CASE WHEN regexp_matches(${name}, '^c[0-9]+$') THEN 'field ' || substr(${name}, 2) END`;
  return named.length === 0 ? field : `coalesce(CASE ${name} ${named.join(' ')} END, ${field})`;
}
