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

/**
 * Reads and converts all of a task's files in one DuckDB scan into a temp table, then accounts
 * for every record: read = written + rejected, per file, with sample rejects.
 */
export async function convertFiles(
  connection: DuckDBConnection,
  transform: Transform,
  files: readonly string[],
  csvFieldCount: number,
): Promise<FileAccount[]> {
  const accounts = files.map((): FileAccount => ({ rowsRead: 0, rowsWritten: 0, rowsRejected: 0, rejects: [] }));
  if (files.length === 0) return accounts;
  const select = compileSelect(transform, { files, csvFieldCount, rejectsName: 'inlet_rejects' });
  await connection.run(`CREATE TEMP TABLE ${CONVERTED_TABLE} AS ${select}`);

  const perFile = await queryRows<{ f: bigint; first: bigint; good: bigint; bad: bigint }>(
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
    account.rowsRejected = Number(row.bad);
    firstRow.set(Number(row.f), row.first);
  }

  // Records the CSV reader itself refused (wrong field count, bad quoting): never in the table.
  const readerRejects = await queryRows<{ f: bigint; n: bigint }>(
    connection,
    `SELECT file_id AS f, count(*) AS n FROM inlet_rejects_errors GROUP BY ALL`,
  );
  for (const row of readerRejects) accounts[Number(row.f)]!.rowsRejected += Number(row.n);
  const readerSamples = await queryRows<{ f: bigint; line: bigint; column_name: string | null; error_type: string; error_message: string }>(
    connection,
    `SELECT file_id AS f, line, column_name, error_type, error_message FROM inlet_rejects_errors
     QUALIFY row_number() OVER (PARTITION BY file_id ORDER BY line) <= ${REJECT_SAMPLES_PER_FILE}`,
  );
  const readerLines = new Map<number, number[]>();
  for (const r of readerSamples) {
    const f = Number(r.f);
    accounts[f]!.rejects.push({ line: Number(r.line), column: r.column_name, reason: `${r.error_type}: ${r.error_message}` });
    readerLines.set(f, [...(readerLines.get(f) ?? []), Number(r.line)]);
  }
  const allReaderLines = await queryRows<{ f: bigint; line: bigint }>(connection, `SELECT file_id AS f, line FROM inlet_rejects_errors ORDER BY file_id, line`);
  for (const r of allReaderLines) readerLines.set(Number(r.f), [...(readerLines.get(Number(r.f)) ?? []), Number(r.line)]);

  const conversionSamples = await queryRows<{ f: bigint; row: bigint; reason: string }>(
    connection,
    `SELECT ${FILE_COLUMN} AS f, rowid AS row, ${REASON_COLUMN} AS reason FROM ${CONVERTED_TABLE}
     WHERE ${REASON_COLUMN} IS NOT NULL
     QUALIFY row_number() OVER (PARTITION BY ${FILE_COLUMN} ORDER BY rowid) <= ${REJECT_SAMPLES_PER_FILE}`,
  );
  for (const r of conversionSamples) {
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
  for (const rejected of [...new Set(readerRejectLines)].sort((a, b) => a - b)) {
    if (rejected <= line) line++;
  }
  return line;
}

function columnOf(reason: string): string | null {
  return /^column "((?:[^"]|"")*)"/.exec(reason)?.[1] ?? null;
}
