import { sql, type RawBuilder } from 'kysely';
import type { Dialect } from './db.js';

/**
 * The catalog database's clock in epoch milliseconds, as an SQL expression. Leases and backoffs
 * are set and compared by it, so every process agrees on when a lease runs out whatever its own
 * clock says (a process whose clock runs ahead would otherwise take live tasks).
 */
export function dbNowMs(dialect: Dialect): RawBuilder<number> {
  return dialect === 'postgres' ? sql<number>`(extract(epoch from now()) * 1000)::bigint` : sql<number>`cast(unixepoch('subsec') * 1000 as integer)`;
}

/** `dbNowMs() + ms`, for a lease's end or a backoff. */
export function dbNowPlusMs(dialect: Dialect, ms: number): RawBuilder<number> {
  return sql<number>`(${dbNowMs(dialect)} + ${Math.round(ms)})`;
}
