import type { DuckDBConnection } from '@duckdb/node-api';
import { queryRows } from '../duckdb/engine.js';
import { BLANK_COLUMN, compileSelect, FILE_COLUMN, REASON_COLUMN } from '../transform/compile.js';
import type { Transform } from '../transform/model.js';

export const CONVERTED_TABLE = 'inlet_converted';
/** How many rejects per file are kept as samples with their line and reason. */
export const REJECT_SAMPLES_PER_FILE = 5;

export interface Reject {
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

/** Files read by one DuckDB scan: CSV files are grouped by their field count. */
export interface ReadGroup {
  readonly files: readonly string[];
  /** Task-wide file numbers, parallel to `files`. */
  readonly numbers: readonly number[];
  readonly csvFieldCount: number;
}

/**
 * Reads and converts a task's files into one temp table (one DuckDB scan per group), then
 * accounts for every record: read = written + rejected, per file, with sample rejects.
 */
export async function convertFiles(connection: DuckDBConnection, transform: Transform, groups: readonly ReadGroup[], fileCount: number): Promise<FileAccount[]> {
  const accounts = Array.from({ length: fileCount }, (): FileAccount => ({ rowsRead: 0, rowsWritten: 0, rowsRejected: 0, rejects: [] }));
  // Lines the CSV reader refused, per file: needed to place conversion rejects on their line.
  const readerLines = new Map<number, number[]>();
  for (const [g, group] of groups.entries()) {
    const rejectsName = `inlet_rejects_${g}`;
    const select = compileSelect(transform, { files: group.files, csvFieldCount: group.csvFieldCount, rejectsName, fileNumbers: group.numbers });
    await connection.run(g === 0 ? `CREATE TEMP TABLE ${CONVERTED_TABLE} AS ${select}` : `INSERT INTO ${CONVERTED_TABLE} ${select}`);
    const rejected = await queryRows<{ f: bigint; line: bigint; column_name: string | null; error_type: string; error_message: string }>(
      connection,
      `SELECT file_id AS f, line, column_name, error_type, error_message FROM ${rejectsName}_errors ORDER BY file_id, line`,
    );
    for (const r of rejected) {
      const file = group.numbers[Number(r.f)]!;
      const account = accounts[file]!;
      account.rowsRejected++;
      let lines = readerLines.get(file);
      if (!lines) readerLines.set(file, (lines = []));
      lines.push(Number(r.line));
      if (account.rejects.length < REJECT_SAMPLES_PER_FILE) {
        account.rejects.push({ line: Number(r.line), column: readerColumn(transform, r.column_name), reason: `${r.error_type}: ${r.error_message}` });
      }
    }
  }

  const perFile = await queryRows<{ f: number; first: bigint; good: bigint; bad: bigint }>(
    connection,
    `SELECT ${FILE_COLUMN} AS f, min(rowid) AS first,
            count(*) FILTER (WHERE NOT ${BLANK_COLUMN} AND ${REASON_COLUMN} IS NULL) AS good,
            count(*) FILTER (WHERE ${REASON_COLUMN} IS NOT NULL) AS bad
     FROM ${CONVERTED_TABLE} GROUP BY ALL`,
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
    `SELECT ${FILE_COLUMN} AS f, rowid AS row, ${REASON_COLUMN} AS reason FROM ${CONVERTED_TABLE}
     WHERE ${REASON_COLUMN} IS NOT NULL
     QUALIFY row_number() OVER (PARTITION BY ${FILE_COLUMN} ORDER BY rowid) <= ${REJECT_SAMPLES_PER_FILE}`,
  );
  for (const r of samples) {
    const f = Number(r.f);
    const record = Number(r.row - (firstRow.get(f) ?? 0n)) + 1;
    accounts[f]!.rejects.push({ line: lineOf(record, transform, readerLines.get(f) ?? []), column: columnOf(r.reason), reason: r.reason });
  }

  for (const account of accounts) {
    account.rowsRead = account.rowsWritten + account.rowsRejected;
    account.rejects.sort((a, b) => a.line - b.line);
    account.rejects.splice(REJECT_SAMPLES_PER_FILE);
  }
  return accounts;
}

/**
 * The file line of the n-th record the reader returned: header lines and lines the reader
 * refused come before it. Blank lines in CSV (which DuckDB skips) and multi-line quoted fields
 * are not seen here, so the line is exact for line-per-record data such as logs.
 */
function lineOf(record: number, transform: Transform, readerRejectLines: readonly number[]): number {
  let line = record + (transform.type === 'csv' ? transform.csv.skipHead : 0);
  for (const rejected of readerRejectLines) {
    if (rejected <= line) line++;
  }
  return line;
}

/** The reader names CSV fields c0, c1, …: report the output column fed by that field instead. */
function readerColumn(transform: Transform, name: string | null): string | null {
  const index = name ? /^c(\d+)$/.exec(name)?.[1] : undefined;
  if (index === undefined) return null;
  return transform.columns.find((c) => 'index' in c.source && c.source.index === Number(index))?.name ?? `field ${index}`;
}

function columnOf(reason: string): string | null {
  return /^column "((?:[^"]|"")*)"/.exec(reason)?.[1] ?? null;
}
