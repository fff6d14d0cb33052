import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { errorMessage } from '../errors.js';

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

/**
 * Runs `work` on the connection, interrupting it once `signal` aborts and again until `work`
 * settles: DuckDB forgets an interrupt made between two statements, or just as one starts.
 */
export async function untilAborted<T>(connection: DuckDBConnection, signal: AbortSignal, work: () => Promise<T>): Promise<T> {
  let repeat: NodeJS.Timeout | undefined;
  const interrupt = () => {
    connection.interrupt();
    repeat = setInterval(() => connection.interrupt(), 20);
  };
  signal.addEventListener('abort', interrupt, { once: true });
  try {
    return await work();
  } finally {
    signal.removeEventListener('abort', interrupt);
    clearInterval(repeat);
  }
}

/**
 * withConnection for an instance that is closed afterwards, stopped when `signal` aborts (see
 * untilAborted). Cleanup statements in `fn` are interrupted too, hence only for a throwaway instance.
 */
export async function withStoppableConnection<T>(instance: DuckDBInstance, signal: AbortSignal, fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
  signal.throwIfAborted();
  const connection = await instance.connect();
  try {
    return await untilAborted(connection, signal, () => fn(connection));
  } finally {
    connection.closeSync();
  }
}

/** Whether DuckDB failed for want of memory: its memory_limit, with nothing left to spill. */
export const isOutOfMemory = (err: unknown): boolean => errorMessage(err).startsWith('Out of Memory Error');

/** DuckDB's binary units, as it shows its memory_limit (244.1 MiB). */
const UNIT_BYTES: Record<string, number> = { bytes: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40, PiB: 2 ** 50 };

/**
 * The instance's memory in bytes: its limit (undefined when it reads as no number), what its
 * buffers hold now and what they have spilled to its temp directory.
 */
export async function memoryUse(connection: DuckDBConnection): Promise<{ limit: number | undefined; used: number; spilled: number }> {
  const [m] = await queryRows<{ limit: string; used: bigint | null; spilled: bigint | null }>(
    connection,
    `SELECT current_setting('memory_limit') AS limit, sum(memory_usage_bytes)::BIGINT AS used, sum(temporary_storage_bytes)::BIGINT AS spilled FROM duckdb_memory()`,
  );
  const shown = /^([\d.]+)\s*(bytes|[KMGTP]iB)$/.exec(m!.limit.trim());
  return { limit: shown ? Number(shown[1]) * UNIT_BYTES[shown[2]!]! : undefined, used: Number(m!.used ?? 0n), spilled: Number(m!.spilled ?? 0n) };
}

/**
 * Whether DuckDB has stopped the instance for good: an internal check of its own failed
 * ("INTERNAL Error"), after which every statement on it fails ("database has been invalidated").
 */
export const stopsInstance = (err: unknown): boolean => /^(INTERNAL|FATAL) Error|database has been invalidated/.test(errorMessage(err));

/** Whether the instance still runs statements (see stopsInstance): a long-lived one is replaced once it does not. */
export async function isUsable(instance: DuckDBInstance): Promise<boolean> {
  try {
    await withConnection(instance, undefined, (c) => c.run('SELECT 1'));
    return true;
  } catch (err) {
    if (stopsInstance(err)) return false;
    throw err;
  }
}
