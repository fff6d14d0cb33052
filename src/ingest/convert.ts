import { randomBytes } from 'node:crypto';
import type { DuckDBConnection } from '@duckdb/node-api';
import { queryRows } from '../duckdb/engine.js';
import { errorMessage, SourceError } from '../errors.js';
import { ACCEPTED_FILTER, BLANK_COLUMN, FILE_COLUMN, REASON_COLUMN, ROW_COLUMN } from '../transform/bookkeeping.js';
import { compileSelect, fittedRowsSql, quoteIdent, readSql, storedColumns, type ReadShape } from '../transform/compile.js';
import type { CsvOptions, Transform } from '../transform/model.js';
import { runSqlTransform } from '../transform/sql-transform.js';
import { unbundleRejects } from './bundle.js';
import { scanRecord } from './csv-fields.js';
import { originalLine, type DroppedLine } from './long-lines.js';
import { collectRejects, DROPPED_BY_SQL_TRANSFORM, RAW_FORMAT, scanRawText, UNFIT_FROM_SQL_TRANSFORM, type KeptRejects } from './rejects.js';

/** Files in one read from which it is staged in a table before converting (see convertFiles). */
const STAGE_FROM_FILES = 32;
/** How many rejects per file are kept as samples with their line and reason. */
export const REJECT_SAMPLES_PER_FILE = 5;

export interface Reject {
  /** The file line; for JSON arrays and concatenated documents, the record's number. */
  readonly line: number;
  readonly column: string | null;
  readonly reason: string;
}

export interface FileAccount {
  rowsRead: number;
  rowsWritten: number;
  rowsRejected: number;
  rejects: Reject[];
}

/** Files read by one DuckDB scan: CSV files are grouped by their field count, JSON files by their shape. */
export interface ReadGroup {
  readonly files: readonly string[];
  /** Task-wide file numbers, parallel to `files`. */
  readonly numbers: readonly number[];
  readonly shape: ReadShape;
  readonly csvFieldCount: number;
  /** The longest line DuckDB is given; longer ones were taken out of the files beforehand. */
  readonly maxLineBytes: number;
  /**
   * Per file, parallel to `numbers`: the records judged before DuckDB read the file (lines too long,
   * misfit field counts), each a rejected record, sorted by line.
   */
  readonly droppedLines: readonly (readonly DroppedLine[])[];
  /** Set when `files` is one bundle of the files' NDJSON lines (see bundle.ts): the bundle line each file's lines start on, parallel to `numbers`. */
  readonly bundleStarts?: readonly number[];
  /**
   * Set when the files' records were not judged for their field count and encoding (see
   * readGroups): DuckDB reads them keeping no rejects, and the read fails with UnjudgedRecordsError
   * on the first record it refuses (or any other failure but a cancel), for the caller to judge
   * the files and convert again (convert-chunk.ts).
   */
  readonly unjudged?: boolean;
}

/**
 * A strict read of an unjudged group (ReadGroup.unjudged) failed, on a record DuckDB refuses or
 * otherwise (a cancel aside): convert the chunk again with its groups judged (judgeGroups). Not a
 * failure of the files, and never reported as one.
 */
export class UnjudgedRecordsError extends Error {}

/** How DuckDB fails a statement interrupted (a cancelled task). */
const INTERRUPTED = /^INTERRUPT Error/;

/**
 * DuckDB's CSV reader (which reads CSV and NDJSON lines) takes the line ending of a file's first
 * line for all of them, and fails the whole file, not the line, on a line ending otherwise: "\n"
 * and "\r\n" mixed (files of two systems put together) or a lone "\r" (see line-endings.ts).
 */
export const UNEVEN_LINE_ENDINGS = /CSV Parser state machine reached an invalid state/;

/** What convertFiles reads, and how its converted rows are kept. */
export interface ConvertOptions {
  readonly connection: DuckDBConnection;
  readonly transform: Transform;
  readonly groups: readonly ReadGroup[];
  /** Files of the task in this chunk: the accounts' length. */
  readonly fileCount: number;
  /** The load's clock, for limits.past/future. */
  readonly nowMs?: number;
  /** A plain table other connections can read (so partitions are written on several); else a temp table of this connection. */
  readonly shared?: boolean;
  /** Collect the rejected records, at most this many, with their raw text (see collectRejects); none when absent. */
  readonly keepRejects?: number;
  /** How long the sql_transform's statement may run on the chunk (see runSqlTransform); unbounded when absent. */
  readonly sqlTransformTimeoutMs?: number;
}

/**
 * One chunk's converted rows in DuckDB, with the names of the relations holding them: what
 * planPartitions and writePartitions take. Its tables outlive nothing but the chunk: `drop`
 * removes them (a shared table is seen by other connections, so closing this one does not).
 */
export interface ConvertedChunk {
  readonly connection: DuckDBConnection;
  readonly transform: Transform;
  /** Per file of the chunk: read = written + rejected, with sample rejects. */
  readonly accounts: FileAccount[];
  /** Every record read, converted, with the bookkeeping columns (file, reason, blank). */
  readonly converted: string;
  /** Whether `converted` is a plain table other connections of the instance can read. */
  readonly shared: boolean;
  /** The rows to write, with the stored columns, the file column and the row id: after sql_transform. */
  readonly accepted: string;
  /** The rejected records kept (with keepRejects), in file and line order. */
  readonly rejects: KeptRejects | undefined;
  drop(): Promise<void>;
}

/**
 * Reads and converts a task's files into one table (one DuckDB scan per group), then accounts
 * for every record: read = written + rejected, per file, with sample rejects.
 */
export async function convertFiles(options: ConvertOptions): Promise<ConvertedChunk> {
  const { connection, transform, groups, fileCount, nowMs = Date.now(), shared = false, keepRejects } = options;
  const id = randomBytes(6).toString('hex');
  const converted = `inlet_converted_${id}`;
  const shiftsTable = `inlet_shifts_${id}`;
  // Only a chunk with judged records (the unusual one) makes their table.
  const judgedTable = groups.some((g) => g.droppedLines.some((lines) => lines.length > 0)) ? `inlet_judged_${id}` : undefined;
  const fittedTable = transform.sqlTransform !== undefined ? `inlet_fitted_${id}` : undefined;
  const drops: string[] = [];
  const chunk: { -readonly [K in keyof ConvertedChunk]: ConvertedChunk[K] } = {
    connection,
    transform,
    accounts: [],
    converted,
    shared,
    accepted: `inlet_accepted_${id}`,
    rejects: undefined,
    drop: async () => {
      for (const statement of drops.reverse()) await connection.run(statement);
      drops.length = 0;
    },
  };
  try {
    const keepRaw = keepRejects !== undefined && keepRejects > 0;
    const { droppedTraceable } = await convertInto(chunk, { groups, fileCount, nowMs, id, shiftsTable, judgedTable, fittedTable, drops, keepRaw, sqlTransformTimeoutMs: options.sqlTransformTimeoutMs });
    // A chunk without rejects (the usual one) keeps none and costs nothing more.
    if (keepRejects !== undefined && keepRejects > 0 && chunk.accounts.some((a) => a.rowsRejected > 0)) {
      const rejectsNames = groups.map((group, g) => (group.unjudged ? undefined : rejectsNameOf(id, g)));
      chunk.rejects = await collectRejects({ connection, transform, groups, converted, accepted: chunk.accepted, shiftsTable, judgedTable, fittedTable, rejectsNames, droppedTraceable, id, drops }, keepRejects);
    }
  } catch (err) {
    await chunk.drop().catch(() => undefined);
    throw err;
  }
  return chunk;
}

interface Converting {
  readonly groups: readonly ReadGroup[];
  readonly fileCount: number;
  readonly nowMs: number;
  readonly id: string;
  readonly shiftsTable: string;
  /** The table of the records judged before DuckDB read the files (see judgedRecords), if any were. */
  readonly judgedTable: string | undefined;
  /** Where a sql_transform's rows are fitted to the table's columns (see acceptRows), if there is one. */
  readonly fittedTable: string | undefined;
  /** The statements dropping what the chunk created, in creation order. */
  readonly drops: string[];
  /** Whether the scan keeps the raw text of the records whose conversion fails (see scanRawText). */
  readonly keepRaw: boolean;
  readonly sqlTransformTimeoutMs: number | undefined;
}

const rejectsNameOf = (id: string, g: number) => `inlet_rejects_${id}_${g}`;

/**
 * The records judged before DuckDB read the files (ReadGroup.droppedLines), in a table of (f, g, j,
 * line, blanked, column, reason, raw, format): a blank line that stood for one yields no record,
 * as a line DuckDB refuses, and moves the records after it (the shifts); the quarantine keeps them.
 */
async function judgedRecords(connection: DuckDBConnection, table: string, groups: readonly ReadGroup[], drops: string[]): Promise<void> {
  await connection.run(`CREATE TEMP TABLE ${table} (f BIGINT, g INTEGER, j BIGINT, line BIGINT, blanked BIGINT, "column" VARCHAR, reason VARCHAR, raw VARCHAR, format VARCHAR)`);
  drops.push(`DROP TABLE IF EXISTS ${table}`);
  const appender = await connection.createAppender(table, 'main', 'temp');
  const text = (value: string | null | undefined) => (value == null ? appender.appendNull() : appender.appendVarchar(value));
  try {
    for (const [g, group] of groups.entries()) {
      for (const [j, lines] of group.droppedLines.entries()) {
        for (const l of lines) {
          appender.appendBigInt(BigInt(group.numbers[j]!));
          appender.appendInteger(g);
          appender.appendBigInt(BigInt(j));
          appender.appendBigInt(BigInt(l.line));
          if (l.blankedAt === undefined) appender.appendNull();
          else appender.appendBigInt(BigInt(l.blankedAt));
          text(l.column);
          text(l.reason);
          text(l.raw);
          text(RAW_FORMAT[group.shape]);
          appender.endRow();
        }
      }
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

async function convertInto(chunk: ConvertedChunk, o: Converting): Promise<{ droppedTraceable: boolean }> {
  const { connection, transform, converted, shared } = chunk;
  const { groups, fileCount, nowMs } = o;
  const accounts = chunk.accounts;
  accounts.push(...Array.from({ length: fileCount }, (): FileAccount => ({ rowsRead: 0, rowsWritten: 0, rowsRejected: 0, rejects: [] })));
  // Lines the reader refused stay in DuckDB (a file of bad lines must not fill this process):
  // the j-th refused line L of a file moves every record numbered L - (j - 1) or more one line down.
  await connection.run(`CREATE TEMP TABLE ${o.shiftsTable} (f BIGINT, t BIGINT)`);
  o.drops.push(`DROP TABLE IF EXISTS ${o.shiftsTable}`);
  if (o.judgedTable) await judgedRecords(connection, o.judgedTable, groups, o.drops);
  const shapes = new Map<number, ReadShape>();
  const dropped = new Map<number, readonly DroppedLine[]>();
  for (const [g, group] of groups.entries()) {
    group.numbers.forEach((n) => shapes.set(n, group.shape));
    for (const [j, lines] of group.droppedLines.entries()) {
      if (lines.length === 0) continue;
      const n = group.numbers[j]!;
      dropped.set(n, lines);
      accounts[n]!.rowsRejected += lines.length;
      accounts[n]!.rejects.push(...lines.slice(0, REJECT_SAMPLES_PER_FILE).map((l) => ({ line: l.line, column: l.column ?? null, reason: l.reason })));
    }
    const rejectsName = group.unjudged ? undefined : rejectsNameOf(o.id, g);
    if (rejectsName) o.drops.push(`DROP TABLE IF EXISTS ${rejectsName}_errors`, `DROP TABLE IF EXISTS ${rejectsName}_scans`);
    const read = {
      files: group.files,
      shape: group.shape,
      csvFieldCount: group.csvFieldCount,
      rejectsName,
      fileNumbers: group.numbers,
      nowMs,
      maxLineBytes: group.maxLineBytes,
      bundled: group.bundleStarts !== undefined,
    };
    // DuckDB evaluates a projection per chunk, and a file of a few dozen records is a chunk of
    // its own: many small files convert faster read into a table first (docs/benchmarks.md).
    const staged = group.files.length >= STAGE_FROM_FILES ? `inlet_staged_${o.id}_${g}` : undefined;
    if (staged) o.drops.push(`DROP TABLE IF EXISTS ${staged}`);
    // A read of JSON documents fails on whichever broken one a thread meets first: the files are read again alone, in order, to name the first.
    const alone = (j: number) => `SELECT count(*) FROM (${readSql(transform, { ...read, files: [group.files[j]!], fileNumbers: [group.numbers[j]!] })})`;
    if (staged) await runRead(connection, `CREATE OR REPLACE TEMP TABLE ${staged} AS ${readSql(transform, read)}`, group, alone);
    const select = compileSelect(transform, { ...read, staged, rawText: o.keepRaw ? scanRawText(transform, group) : undefined });
    if (g === 0) o.drops.push(`DROP TABLE IF EXISTS ${converted}`);
    await runRead(connection, g === 0 ? `CREATE ${shared ? '' : 'TEMP '}TABLE ${converted} AS ${select}` : `INSERT INTO ${converted} ${select}`, group, alone);
    if (staged) await connection.run(`DROP TABLE ${staged}`);
    if (group.shape === 'array' || group.shape === 'objects') continue;
    // Read strictly, DuckDB refused no record, and no misfit was blanked (only long lines were taken out, which shift nothing).
    if (rejectsName === undefined) continue;
    if (group.bundleStarts) await unbundleRejects(connection, `${rejectsName}_errors`, group, transform);
    // DuckDB reports a short record once per missing field: one record, one reject. Errors of a
    // whole line (LINE SIZE OVER MAXIMUM) have no column_idx, and arg_min skips NULL keys.
    const refused = `(SELECT file_id, line, arg_min(column_name, coalesce(column_idx, -1)) AS column_name, arg_min(error_type, coalesce(column_idx, -1)) AS error_type,
                             arg_min(error_message, coalesce(column_idx, -1)) AS error_message
                      FROM ${rejectsName}_errors GROUP BY file_id, line)`;
    const counts = await queryRows<{ f: bigint; n: bigint }>(connection, `SELECT file_id AS f, count(*) AS n FROM ${refused} GROUP BY ALL`);
    for (const r of counts) accounts[group.numbers[Number(r.f)]!]!.rowsRejected += Number(r.n);
    const samples = await queryRows<{ f: bigint; line: bigint; column_name: string | null; error_type: string; error_message: string }>(
      connection,
      `SELECT file_id AS f, line, column_name, error_type, error_message FROM ${refused}
       QUALIFY row_number() OVER (PARTITION BY file_id ORDER BY line) <= ${REJECT_SAMPLES_PER_FILE}`,
    );
    for (const r of samples) {
      const line = originalLine(Number(r.line), group.droppedLines[Number(r.f)]!);
      accounts[group.numbers[Number(r.f)]!]!.rejects.push({ line, column: readerColumn(transform, r.column_name), reason: readerReason(r.error_type, r.error_message, group.maxLineBytes) });
    }
    await connection.run(
      `INSERT INTO ${o.shiftsTable} SELECT [${group.numbers.join(', ')}][file_id::BIGINT + 1], line - (row_number() OVER (PARTITION BY file_id ORDER BY line) - 1)
       FROM (SELECT DISTINCT file_id, line FROM ${rejectsName}_errors${o.judgedTable ? ` UNION SELECT j, blanked FROM ${o.judgedTable} WHERE g = ${g} AND blanked IS NOT NULL` : ''})`,
    );
    if (group.shape === 'csv') await refuseUnclosedQuote(connection, `${rejectsName}_errors`, group, transform.csv);
  }

  const perFile = await queryRows<{ f: number; first: bigint; good: bigint; bad: bigint }>(
    connection,
    `SELECT ${FILE_COLUMN} AS f, min(rowid) AS first,
            count(*) FILTER (WHERE NOT ${BLANK_COLUMN} AND ${REASON_COLUMN} IS NULL) AS good,
            count(*) FILTER (WHERE ${REASON_COLUMN} IS NOT NULL) AS bad
     FROM ${converted} GROUP BY ALL`,
  );
  const firstRow = new Map<number, bigint>();
  for (const row of perFile) {
    const account = accounts[Number(row.f)]!;
    account.rowsWritten = Number(row.good);
    account.rowsRejected += Number(row.bad);
    firstRow.set(Number(row.f), row.first);
  }

  const samples = await queryRows<{ f: number; row: bigint; reason: string }>(
    connection,
    `SELECT ${FILE_COLUMN} AS f, rowid AS row, ${REASON_COLUMN} AS reason FROM ${converted}
     WHERE ${REASON_COLUMN} IS NOT NULL
     QUALIFY row_number() OVER (PARTITION BY ${FILE_COLUMN} ORDER BY rowid) <= ${REJECT_SAMPLES_PER_FILE}`,
  );
  const placed = await placeOnLines(
    connection,
    samples.map((r) => ({ f: Number(r.f), record: Number(r.row - (firstRow.get(Number(r.f)) ?? 0n)) + 1 })),
    transform,
    shapes,
    o.shiftsTable,
  );
  samples.forEach((r, i) => accounts[Number(r.f)]!.rejects.push({ line: originalLine(placed[i]!, dropped.get(Number(r.f)) ?? []), column: columnOf(r.reason), reason: r.reason }));

  const droppedTraceable = await acceptRows(chunk, o);
  for (const account of accounts) {
    account.rowsRead = account.rowsWritten + account.rowsRejected;
    account.rejects.sort((a, b) => a.line - b.line);
    account.rejects.splice(REJECT_SAMPLES_PER_FILE);
  }
  return { droppedTraceable };
}

/** One file of a chunk cannot be read as it is: the task fails, naming it (its number in the chunk). */
export class UnreadableFileError extends SourceError {
  constructor(
    readonly fileNumber: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * DuckDB reads everything after a quote that opens a field and never closes as that one field, of
 * one refused record: the rest of the file would vanish into a single reject. The file is refused
 * whole instead, with the line and the fix. Such a record is its file's last refused one whose text
 * spans lines (DuckDB's text of a record after a blank line starts with that line's ending, which
 * is not one), and its text leaves a quote open: a quoted field that spans lines, closes and is
 * followed by other text is one reject like any other, and DuckDB reads on after it.
 */
async function refuseUnclosedQuote(connection: DuckDBConnection, errors: string, group: ReadGroup, csv: CsvOptions): Promise<void> {
  const lastPerFile = await queryRows<{ f: bigint; line: bigint; text: string | null }>(
    connection,
    `SELECT file_id AS f, max(line) AS line, arg_max(csv_line, line) AS text FROM ${errors}
     WHERE error_type = 'UNQUOTED VALUE' AND strpos(trim(csv_line, chr(13) || chr(10)), chr(10)) > 0 GROUP BY file_id ORDER BY file_id`,
  );
  const open = lastPerFile.find((r) => r.text === null || scanRecord(r.text.replace(/^[\r\n]+/, ''), 0, csv).open);
  if (!open) return;
  const line = originalLine(Number(open.line), group.droppedLines[Number(open.f)]!);
  throw new UnreadableFileError(group.numbers[Number(open.f)]!, unclosedQuoteMessage(line));
}

/** Why a file is refused whose quote, opened on `line`, never closes (see refuseUnclosedQuote). */
export const unclosedQuoteMessage = (line: number) =>
  `line ${line}: a quoted field opens on this line and no quote closes it, so every line after it would be read as that one field; ` +
  `close or escape the quote in the file, or set format_details.quote to a byte the data does not hold`;

/** DuckDB's failure of a JSON array or document read on a broken record: the file, the byte, the record and why. */
const MALFORMED_JSON = /Malformed JSON in file "(.*)", at byte (\d+) in record\/value (\d+): ([^.\n]*)/;

/**
 * Runs a statement that reads a group's files. A JSON array or stream of documents is not read by
 * line: DuckDB fails the whole read on a broken record, or one past its object buffer, which no
 * retry changes: the file fails, named, with the fix. Of several broken files, the first in the
 * group is named (found by reading each `alone`, in order), whichever one the read met first.
 */
async function runRead(connection: DuckDBConnection, sql: string, group: ReadGroup, alone: (j: number) => string): Promise<void> {
  try {
    await connection.run(sql);
  } catch (failure) {
    let err = failure;
    // However a strict read fails, the files judged first may read (DuckDB's reader fails otherwise than on a record too); an interrupt is a cancel.
    if (group.unjudged && !UNEVEN_LINE_ENDINGS.test(errorMessage(err)) && !INTERRUPTED.test(errorMessage(err))) throw new UnjudgedRecordsError('a strict read of files not judged beforehand failed', { cause: err });
    if (MALFORMED_JSON.test(errorMessage(err)) && group.files.length > 1) err = (await firstFailure(connection, group.files.length, alone)) ?? err;
    const malformed = MALFORMED_JSON.exec(errorMessage(err));
    const file = malformed ? group.files.indexOf(malformed[1]!) : -1;
    if (malformed && file >= 0) {
      // DuckDB counts the records of a failed read from 2; the byte is the record's own, from 1.
      const record = Number(malformed[3]) - 1;
      throw new UnreadableFileError(
        group.numbers[file]!,
        `is not valid JSON: ${group.shape === 'array' ? 'element' : 'document'} ${record} of the file ${/end of data/.test(malformed[4]!) ? 'is cut short' : `is broken at its byte ${malformed[2]}`} (${malformed[4]}); ` +
          `fix the file, or write its records as NDJSON lines, where a broken line is one rejected record`,
      );
    }
    if (!/maximum_object_size/.test(errorMessage(err))) throw err;
    const size = /\(>(\d+) bytes\)/.exec(errorMessage(err))?.[1];
    throw new SourceError(
      `a JSON record${size ? ` of more than ${size} bytes` : ''} is too large to read in one piece (INLET_MAX_LINE_BYTES is ${group.maxLineBytes}): raise INLET_MAX_LINE_BYTES above the record's size, or write the records as NDJSON lines, where a long one is rejected alone`,
      { cause: err },
    );
  }
}

/** The failure of the first of `count` reads (`alone(j)`) that fails, if any does. */
async function firstFailure(connection: DuckDBConnection, count: number, alone: (j: number) => string): Promise<unknown> {
  for (let j = 0; j < count; j++) {
    try {
      await connection.run(alone(j));
    } catch (err) {
      return err;
    }
  }
  return undefined;
}

/**
 * Defines the rows to write. With a sql_transform, they are what the user's SELECT makes of the
 * accepted rows; rows it drops (a WHERE, or a NULL primary timestamp) are counted as rejected.
 */
async function acceptRows(chunk: ConvertedChunk, o: Converting): Promise<boolean> {
  const { connection, transform, accounts, accepted: acceptedRelation } = chunk;
  const stored = storedColumns(transform);
  const accepted = `FROM ${chunk.converted} WHERE ${ACCEPTED_FILTER}`;
  const stream = `SELECT ${stored.map((c) => quoteIdent(c.name)).join(', ')}, ${FILE_COLUMN}, rowid AS ${ROW_COLUMN} ${accepted}`;
  if (transform.sqlTransform === undefined) {
    await connection.run(`CREATE TEMP VIEW ${acceptedRelation} AS ${stream}`);
    o.drops.push(`DROP VIEW IF EXISTS ${acceptedRelation}`);
    return true;
  }
  // Only the checked form runs: a transform that skipped checkSqlTransform must not run the user's text.
  if (!transform.checkedSql || !o.fittedTable) throw new SqlTransformError('settings.sql_transform was not checked before the conversion: run it through checkSqlTransform');
  const transformed = `inlet_transformed_${o.id}`;
  o.drops.push(`DROP TABLE IF EXISTS ${transformed}`);
  await runSqlTransform(connection, transform.checkedSql, stream, transformed, o.sqlTransformTimeoutMs);
  const produced = new Set((await queryRows<{ column_name: string }>(connection, `SELECT column_name FROM (DESCRIBE ${transformed})`)).map((r) => r.column_name));
  // Stored columns come from the user's output by name, fitted to the table's columns; absent ones are NULL.
  const file = produced.has(FILE_COLUMN) ? FILE_COLUMN : 'NULL::INTEGER';
  const row = produced.has(ROW_COLUMN) ? ROW_COLUMN : 'NULL::BIGINT';
  const fitted = o.fittedTable;
  o.drops.push(`DROP TABLE IF EXISTS ${fitted}`, `DROP VIEW IF EXISTS ${acceptedRelation}`);
  await connection.run(
    `CREATE TEMP TABLE ${fitted} AS ${fittedRowsSql(transform, produced, transformed, [`${file} AS ${FILE_COLUMN}`, `${row} AS ${ROW_COLUMN}`], o.nowMs)} WHERE ${quoteIdent(transform.primary)} IS NOT NULL`,
  );
  await connection.run(`CREATE TEMP VIEW ${acceptedRelation} AS SELECT * EXCLUDE (${REASON_COLUMN}) FROM ${fitted} WHERE ${REASON_COLUMN} IS NULL`);
  // Rows whose values their columns cannot hold are rejected, each file's with its first reason.
  const unfit = await queryRows<{ f: number | null; n: bigint; reason: string }>(
    connection,
    `SELECT ${FILE_COLUMN} AS f, count(*) AS n, coalesce(arg_min(${REASON_COLUMN}, ${ROW_COLUMN}), min(${REASON_COLUMN})) AS reason FROM ${fitted} WHERE ${REASON_COLUMN} IS NOT NULL GROUP BY ALL`,
  );
  if (unfit.some((u) => u.f === null))
    throw new SqlTransformError(
      `settings.sql_transform made a value its column cannot hold (${unfit[0]!.reason}), and without the ${FILE_COLUMN} column its row cannot be rejected: select "*" (or * EXCLUDE/REPLACE) from {STREAM}`,
    );
  const unfitOf = new Map(unfit.map((u) => [Number(u.f), u]));
  const counts = await queryRows<{ f: number | null; n: bigint }>(connection, `SELECT ${FILE_COLUMN} AS f, count(*) AS n FROM ${acceptedRelation} GROUP BY ALL`);
  const acceptedTotal = accounts.reduce((sum, a) => sum + a.rowsWritten, 0);
  const producedTotal = counts.reduce((sum, c) => sum + Number(c.n), 0);
  if (counts.some((c) => c.f === null)) {
    // Without the file column the output cannot be attributed; it must then keep every row.
    if (producedTotal !== acceptedTotal) {
      throw new SqlTransformError(
        `settings.sql_transform turned ${acceptedTotal} rows into ${producedTotal} without keeping the ${FILE_COLUMN} column, so the rows cannot be accounted per file: select "*" (or * EXCLUDE/REPLACE) from {STREAM} when filtering rows`,
      );
    }
    return true;
  }
  const byFile = new Map(counts.map((c) => [Number(c.f), Number(c.n)]));
  for (const [f, account] of accounts.entries()) {
    const kept = byFile.get(f) ?? 0;
    const dropped = account.rowsWritten - kept;
    if (dropped > 0) {
      account.rowsRejected += dropped;
      account.rowsWritten = kept;
      const misfit = unfitOf.get(f);
      const filtered = dropped - Number(misfit?.n ?? 0);
      if (misfit && account.rejects.length < REJECT_SAMPLES_PER_FILE)
        account.rejects.push({ line: 0, column: columnOf(misfit.reason), reason: `${misfit.n} rows ${UNFIT_FROM_SQL_TRANSFORM} (the first: ${misfit.reason})` });
      if (filtered > 0 && account.rejects.length < REJECT_SAMPLES_PER_FILE) account.rejects.push({ line: 0, column: null, reason: `${filtered} rows ${DROPPED_BY_SQL_TRANSFORM}` });
    } else if (dropped < 0) {
      throw new SqlTransformError(`settings.sql_transform made more rows (${kept}) than it was given (${account.rowsWritten}) for one file: it must not add rows`);
    }
  }
  return produced.has(ROW_COLUMN);
}

/** The user's sql_transform did something its rows cannot be accounted for; retrying will not help. */
export class SqlTransformError extends SourceError {}

/**
 * The file lines of records (numbered from 1 in the order the reader returned them): header lines
 * and the lines the reader refused come before them. Blank lines in CSV (which DuckDB skips) and
 * multi-line quoted fields are not seen here, so the line is exact for line-per-record data such
 * as logs. JSON arrays and concatenated documents are numbered by record.
 */
async function placeOnLines(connection: DuckDBConnection, records: readonly { f: number; record: number }[], transform: Transform, shapes: ReadonlyMap<number, ReadShape>, shiftsTable: string): Promise<number[]> {
  const lineBased = records.map((r) => shapes.get(r.f) !== 'array' && shapes.get(r.f) !== 'objects');
  const skip = (f: number) => (shapes.get(f) === 'csv' ? transform.csv.skipHead : 0);
  const asked = records.filter((_, i) => lineBased[i]);
  if (asked.length === 0) return records.map((r) => r.record);
  const shifts = await queryRows<{ i: number; n: bigint }>(
    connection,
    `SELECT v.i, (SELECT count(*) FROM ${shiftsTable} s WHERE s.f = v.f AND s.t <= v.upto) AS n
     FROM (VALUES ${asked.map((r, i) => `(${i}, ${r.f}, ${r.record + skip(r.f)})`).join(', ')}) v(i, f, upto)`,
  );
  const shiftOf = new Map(shifts.map((s) => [Number(s.i), Number(s.n)]));
  let k = 0;
  return records.map((r, i) => (lineBased[i] ? r.record + skip(r.f) + shiftOf.get(k++)! : r.record));
}

/**
 * DuckDB's reason for a record it refused. A quoted record spanning lines is measured whole: its
 * size is told against Inlet's limit, not DuckDB's max_line_size, which is one byte more.
 */
function readerReason(type: string, message: string, maxLineBytes: number): string {
  const size = type === 'LINE SIZE OVER MAXIMUM' ? /Actual Size:\s*(\d+)/.exec(message)?.[1] : undefined;
  if (size === undefined) return `${type}: ${message}`;
  return `${type}: record longer than ${maxLineBytes} bytes (it has ${size}): the longest line Inlet reads is INLET_MAX_LINE_BYTES`;
}

/** The reader names CSV fields c0, c1, …: report the output column fed by that field instead. */
export function readerColumn(transform: Transform, name: string | null): string | null {
  const index = name ? /^c(\d+)$/.exec(name)?.[1] : undefined;
  if (index === undefined) return null;
  return transform.columns.find((c) => c.source.kind === 'index' && c.source.index === Number(index))?.name ?? `field ${index}`;
}

function columnOf(reason: string): string | null {
  return /^column "((?:[^"]|"")*)"/.exec(reason)?.[1] ?? null;
}
