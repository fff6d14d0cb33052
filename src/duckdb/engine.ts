import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { CONVERSION_ENGINE_OPTIONS } from '../transform/compile.js';

export interface EngineOptions {
  readonly threads: number;
  readonly memoryLimit: string;
  /** Where DuckDB spills when a task's data exceeds the memory limit. */
  readonly tempDirectory: string;
  /** The only directories (besides the spill directory) this instance may read or write. */
  readonly allowedDirectories: readonly string[];
}

/**
 * One DuckDB instance per worker slot, so each slot's threads and memory are bounded on their own.
 * It reaches no network and no file outside `allowedDirectories`: user SQL (a sql_transform) runs
 * in it, and if a check ever let a file-reading call through, DuckDB itself still refuses it.
 */
export async function createEngine(options: EngineOptions): Promise<DuckDBInstance> {
  mkdirSync(options.tempDirectory, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(options.threads),
    memory_limit: options.memoryLimit,
    temp_directory: options.tempDirectory,
    // Row order must follow file order: reject line numbers are derived from it.
    preserve_insertion_order: 'true',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    ...CONVERSION_ENGINE_OPTIONS,
  });
  // allowed_directories is refused as a start-up option, so it is set before access is switched
  // off; both are instance-wide, and turning access off cannot be undone by SQL afterwards.
  const connection = await instance.connect();
  try {
    const directories = options.allowedDirectories.map((d) => path.resolve(d)).map((d) => `'${(d.endsWith(path.sep) ? d : d + path.sep).replaceAll("'", "''")}'`);
    await connection.run(`SET allowed_directories = [${directories.join(', ')}]`);
    await connection.run('SET enable_external_access = false');
  } catch (err) {
    instance.closeSync();
    throw err;
  } finally {
    connection.closeSync();
  }
  return instance;
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
