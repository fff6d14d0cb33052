import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { quoteLiteral } from '../transform/compile.js';
import type { ConvertedChunk } from './convert.js';

/**
 * The columns of a quarantine file, and of the `project.table#rejects` view over them: one row
 * per rejected record. `raw` is the record as read (a CSV record's fields joined again, a JSON
 * record's text), NULL for a line too long to read; `format` is csv, ndjson or json.
 */
export const QUARANTINE_COLUMNS = [
  { name: 'job_id', type: 'VARCHAR' },
  { name: 'file', type: 'VARCHAR' },
  { name: 'line', type: 'BIGINT' },
  { name: 'column', type: 'VARCHAR' },
  { name: 'reason', type: 'VARCHAR' },
  { name: 'raw', type: 'VARCHAR' },
  { name: 'format', type: 'VARCHAR' },
] as const;

export interface QuarantineFile {
  /** Absolute path of the Parquet file. */
  readonly file: string;
  readonly rows: number;
  readonly bytes: number;
}

/**
 * Writes a chunk's kept rejects as one Parquet file (`file`), each named by its job and its
 * file's URL; nothing when it kept none. `urls` are the chunk's files, by their number.
 */
export async function writeQuarantine(chunk: ConvertedChunk, o: { jobId: string; urls: readonly string[]; file: string }): Promise<QuarantineFile | undefined> {
  const rejects = chunk.rejects;
  const rows = rejects?.kept.reduce((sum, n) => sum + (n ?? 0), 0) ?? 0;
  if (!rejects || rows === 0) return undefined;
  await mkdir(path.dirname(o.file), { recursive: true });
  const urls = `[${o.urls.map(quoteLiteral).join(', ')}]`;
  // The table was made in file and line order, which DuckDB keeps (preserve_insertion_order): no second sort.
  await chunk.connection.run(
    `COPY (SELECT ${quoteLiteral(o.jobId)} AS job_id, ${urls}[f + 1] AS file, line, "column", reason, raw, format FROM ${rejects.table})
     TO ${quoteLiteral(o.file)} (FORMAT parquet, COMPRESSION zstd)`,
  );
  return { file: o.file, rows, bytes: (await stat(o.file)).size };
}
