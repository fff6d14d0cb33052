import { mkdirSync } from 'node:fs';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

export interface EngineOptions {
  readonly threads: number;
  readonly memoryLimit: string;
  /** Where DuckDB spills when a task's data exceeds the memory limit. */
  readonly tempDirectory: string;
}

/** One DuckDB instance per worker slot, so each slot's threads and memory are bounded on their own. */
export async function createEngine(options: EngineOptions): Promise<DuckDBInstance> {
  mkdirSync(options.tempDirectory, { recursive: true });
  return DuckDBInstance.create(':memory:', {
    threads: String(options.threads),
    memory_limit: options.memoryLimit,
    temp_directory: options.tempDirectory,
    // Row order must follow file order: reject line numbers are derived from it.
    preserve_insertion_order: 'true',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
}

export type Row = Record<string, unknown>;

export async function queryRows<T extends Row = Row>(connection: DuckDBConnection, sql: string): Promise<T[]> {
  const reader = await connection.runAndReadAll(sql);
  return reader.getRowObjectsJS() as T[];
}

/** Runs `fn` with a fresh connection, so temp tables and reject tables never leak between tasks. */
export async function withConnection<T>(instance: DuckDBInstance, signal: AbortSignal | undefined, fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
  // DuckDB forgets an interrupt made before a statement runs: an aborted caller starts none.
  signal?.throwIfAborted();
  const connection = await instance.connect();
  const interrupt = () => connection.interrupt();
  signal?.addEventListener('abort', interrupt, { once: true });
  try {
    return await fn(connection);
  } finally {
    signal?.removeEventListener('abort', interrupt);
    connection.closeSync();
  }
}
