import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { queryRows } from '../duckdb/engine.js';
import { BLANK_COLUMN, quoteIdent, quoteLiteral, REASON_COLUMN, storedColumns } from '../transform/compile.js';
import type { Transform } from '../transform/model.js';
import { CONVERTED_TABLE } from './convert.js';

export interface PartitionLimits {
  readonly maxRows: number;
  readonly maxMinutes: number;
}

export interface WrittenPartition {
  /** Absolute path of the Parquet file. */
  readonly file: string;
  readonly rows: number;
  readonly bytes: number;
  readonly minTsMs: number;
  readonly maxTsMs: number;
}

/**
 * Writes the accepted rows as Parquet files, none holding more than `maxRows` rows nor spanning
 * more than `maxMinutes` of the primary timestamp. Time windows are aligned to multiples of
 * `maxMinutes` since the epoch, so partitions of different tasks line up for pruning.
 */
export async function writePartitions(connection: DuckDBConnection, transform: Transform, limits: PartitionLimits, dir: string): Promise<WrittenPartition[]> {
  const ts = quoteIdent(transform.primary);
  const columns = storedColumns(transform).map((c) => quoteIdent(c.name)).join(', ');
  const accepted = `FROM ${CONVERTED_TABLE} WHERE ${REASON_COLUMN} IS NULL AND NOT ${BLANK_COLUMN}`;
  const window = `epoch_ms(${ts}) // ${limits.maxMinutes * 60_000}`;

  const [largest] = await queryRows<{ n: bigint | null }>(connection, `SELECT max(n) AS n FROM (SELECT count(*) AS n ${accepted} GROUP BY ${window})`);
  if (largest?.n == null) return [];
  // Numbering rows costs a sort, so it is done only when some window holds more rows than one partition may.
  const chunk =
    Number(largest.n) > limits.maxRows ? `(row_number() OVER (PARTITION BY ${window} ORDER BY ${ts}) - 1) // ${limits.maxRows}` : '0';
  // DuckDB creates the output directory but not its parents.
  await mkdir(path.dirname(dir), { recursive: true });
  await connection.run(
    `COPY (SELECT ${columns}, ${window} AS __inlet_window, ${chunk} AS __inlet_chunk ${accepted} ORDER BY ${ts}) ` +
      `TO ${quoteLiteral(dir)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (__inlet_window, __inlet_chunk), FILENAME_PATTERN 'part_{i}')`,
  );

  // DuckDB may write more than one file for a window; each file is its own partition, measured as written.
  const files = await queryRows<{ filename: string; rows: bigint; min_ms: bigint; max_ms: bigint }>(
    connection,
    `SELECT filename, count(*) AS rows, epoch_ms(min(${ts})) AS min_ms, epoch_ms(max(${ts})) AS max_ms
     FROM read_parquet(${quoteLiteral(path.join(dir, '**', '*.parquet'))}, filename=true) GROUP BY filename ORDER BY min_ms`,
  );
  return Promise.all(
    files.map(async (f) => ({
      file: f.filename,
      rows: Number(f.rows),
      bytes: (await stat(f.filename)).size,
      minTsMs: Number(f.min_ms),
      maxTsMs: Number(f.max_ms),
    })),
  );
}
