import type { DuckDBConnection } from '@duckdb/node-api';
import { queryRows } from '../duckdb/engine.js';
import { BLANK_COLUMN, FILE_COLUMN, REASON_COLUMN, ROW_COLUMN } from '../transform/bookkeeping.js';
import { storedColumns } from '../transform/compile.js';
import type { Transform } from '../transform/model.js';
import type { FileAccount } from './convert.js';
import { convertChunk } from './convert-chunk.js';
import { DEFAULT_MAX_LINE_BYTES } from './long-lines.js';
import { readGroups } from './read-groups.js';

/** What became of one input record: the row it loads as, or why it does not load. */
export type RecordOutcome = { readonly record: number; readonly output: Record<string, unknown> } | { readonly record: number; readonly rejected: string };

export interface Preview {
  readonly accounts: FileAccount[];
  /** Per file, in input order; blank lines are skipped and CSV records the reader refused are in `accounts` only. */
  readonly records: RecordOutcome[][];
}

/** JSON-safe values: 64-bit integers as strings (as ClickHouse writes them), timestamps as ISO text. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

/**
 * Runs the real conversion over local files and answers record by record, for the validator and
 * the golden tests. The same SQL as an INDEX task, so what it shows is what a job would load.
 */
export async function previewFiles(connection: DuckDBConnection, transform: Transform, files: readonly string[], nowMs = Date.now()): Promise<Preview> {
  // The validator's files are its own temporary copies: the copies made while reading go beside each.
  const lines = { maxLineBytes: DEFAULT_MAX_LINE_BYTES, copyOf: (i: number) => `${files[i]}.lines` };
  const groups = await readGroups(transform, files, lines, { judge: false });
  const { chunk } = await convertChunk({ connection, transform, groups, fileCount: files.length, nowMs }, { lines, evenOf: (i) => `${files[i]}.even` });
  const accounts = chunk.accounts;
  const names = storedColumns(transform).map((c) => c.name);
  const rows = await queryRows(
    connection,
    `SELECT c.${FILE_COLUMN} AS __f, c.${REASON_COLUMN} AS __reason, a.* EXCLUDE (${FILE_COLUMN}, ${ROW_COLUMN}), a.${ROW_COLUMN} IS NULL AS __dropped
     FROM ${chunk.converted} c LEFT JOIN ${chunk.accepted} a ON a.${ROW_COLUMN} = c.rowid
     WHERE NOT c.${BLANK_COLUMN} ORDER BY c.rowid`,
  ).finally(() => chunk.drop());
  const records: RecordOutcome[][] = files.map(() => []);
  for (const row of rows) {
    const perFile = records[Number(row.__f)]!;
    const record = perFile.length + 1;
    if (row.__reason !== null) perFile.push({ record, rejected: String(row.__reason) });
    else if (row.__dropped) perFile.push({ record, rejected: 'dropped by sql_transform' });
    else perFile.push({ record, output: Object.fromEntries(names.map((n) => [n, plain(row[n])])) });
  }
  return { accounts, records };
}
