import { execFile } from 'node:child_process';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'duckdb-alone.ts');

export interface AloneResult {
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly peakRssBytes: number;
  /** Each statement's seconds, in order. */
  readonly statementSeconds: number[];
  /** The first value the last statement answered (a COPY's row count), or null. */
  readonly lastValue: number | null;
}

/** Runs `sql` (statements separated by ";\n") in DuckDB alone, in a child process, with every core. */
export async function duckdbAlone(sql: string): Promise<AloneResult> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', SCRIPT], {
    env: { ...process.env, BENCH_SQL: sql, BENCH_THREADS: String(cpus().length) },
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as AloneResult;
}
