import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { ImmediateSqliteDialect } from './immediate-sqlite-dialect.js';
import { Kysely, Migrator, sql, type Migration, type MigrationProvider, type SqliteDialectConfig } from 'kysely';
import pg from 'pg';
import { ValidationError } from '../errors.js';
import * as init from './migrations/0001-init.js';
import * as partitionPlan from './migrations/0002-task-partition-plan.js';
import * as partitionSchemaKey from './migrations/0003-partition-schema-key.js';
import * as tablePartitionCount from './migrations/0004-table-partition-count.js';
import * as tablePartitionSpan from './migrations/0005-table-partition-span.js';
import * as taskProgress from './migrations/0006-task-progress.js';
import * as taskQueueIndexes from './migrations/0006-task-queue-indexes.js';
import * as partitionStorage from './migrations/0007-partition-storage.js';
import * as reruns from './migrations/0008-reruns.js';
import * as tenants from './migrations/0009-tenants.js';
import * as taskListCursor from './migrations/0010-task-list-cursor.js';
import * as quarantine from './migrations/0011-quarantine.js';
import { OneSchemaPostgresDialect } from './one-schema-dialect.js';
import type { CatalogSchema } from './schema.js';

export type CatalogDb = Kysely<CatalogSchema>;
export type Dialect = 'sqlite' | 'postgres';

export interface Catalog {
  readonly db: CatalogDb;
  readonly dialect: Dialect;
  /** Writes through this catalog object that change what a query's table names resolve to. */
  readonly changes: ChangeCounter;
  close(): Promise<void>;
}

/**
 * Counts this process's writes to projects, tables and transforms, so what is kept from them
 * (the query API's plans) can tell it is out of date. Only writes through this object count:
 * another process's writes reach a cache through its expiry, never through this counter.
 */
export class ChangeCounter {
  private count = 0;

  get value(): number {
    return this.count;
  }

  /** Called after the write has committed, so a reader that saw the old value re-reads. */
  bump(): void {
    this.count++;
  }
}

// Migrations are bundled in code (not read from a folder) so the same list runs from source or a build.
const MIGRATIONS: Record<string, Migration> = {
  '0001-init': init,
  '0002-task-partition-plan': partitionPlan,
  '0003-partition-schema-key': partitionSchemaKey,
  '0004-table-partition-count': tablePartitionCount,
  '0005-table-partition-span': tablePartitionSpan,
  '0006-task-progress': taskProgress,
  '0006-task-queue-indexes': taskQueueIndexes,
  '0007-partition-storage': partitionStorage,
  '0008-reruns': reruns,
  '0009-tenants': tenants,
  '0010-task-list-cursor': taskListCursor,
  '0011-quarantine': quarantine,
};
const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

// BIGINT columns hold epoch milliseconds and byte counts, all far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/** What `?schema=` accepts: a name that needs no quoting, in `search_path` as in SQL. */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Prepared statements kept per SQL text; the API and workers run the same few hundred. */
const CACHED_STATEMENTS = 500;

/**
 * Kysely prepares every query anew, which costs more than running most of the catalog's
 * queries; SQLite re-prepares a kept statement itself if the schema changes under it.
 */
function withStatementCache(sqlite: SQLite.Database): SqliteDialectConfig['database'] {
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare: (sql: string) => {
      let statement = statements.get(sql);
      if (!statement) {
        statement = sqlite.prepare(sql);
        if (statements.size >= CACHED_STATEMENTS) statements.delete(statements.keys().next().value!);
        statements.set(sql, statement);
      }
      return statement;
    },
  };
}

/**
 * Through PgBouncer's transaction pooling, a connection's startup options and session SETs do
 * not reach the server connection of the next transaction: each transaction sets what it needs
 * itself. With a schema, it names the schema (for the raw SQL in it), and every other statement
 * is schema-qualified (withSchema). Every transaction also bounds how long it may sit idle: a
 * process frozen between two statements (stopped, swapped out, partitioned away) would otherwise
 * hold its row locks, and the queue with them, until it resumed.
 */
function settingsInEveryTransaction(pool: pg.Pool, schema: string | undefined, idleInTransactionMs: number) {
  const begin = `BEGIN; SET LOCAL idle_in_transaction_session_timeout = ${Math.round(idleInTransactionMs)}${schema ? `; SET LOCAL search_path TO ${schema}` : ''}`;
  return {
    connect: async () => {
      const client = await pool.connect();
      return new Proxy(client, {
        get(target, prop) {
          if (prop === 'query') {
            return (text: unknown, ...rest: unknown[]) => (typeof text === 'string' && text.trim().toLowerCase() === 'begin' ? target.query(begin) : (target.query as (...args: unknown[]) => unknown)(text, ...rest));
          }
          const value: unknown = Reflect.get(target, prop, target);
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
    end: () => pool.end(),
  };
}

export interface CatalogOptions {
  /** PostgreSQL connections this process may open at most (SQLite has one). */
  readonly poolSize?: number;
  /**
   * Told of a PostgreSQL connection that broke outside a statement (a server restart, a
   * terminated backend, a network cut). The pool drops it and the next statement opens another.
   */
  readonly onConnectionError?: (err: Error) => void;
  /**
   * How long a PostgreSQL transaction may wait between two statements before the server ends
   * its connection (and so its locks). Catalog transactions run their statements back to back.
   */
  readonly idleInTransactionMs?: number;
}

const DEFAULT_IDLE_IN_TRANSACTION_MS = 30_000;

/** Connections of a process that sets no pool size: the API's handlers and the query process share them. */
export const DEFAULT_POOL_SIZE = 10;

export async function openCatalog(databaseUrl: string, options: CatalogOptions = {}): Promise<Catalog> {
  let db: CatalogDb;
  let dialect: Dialect;
  let schemaName: string | undefined;
  if (databaseUrl.startsWith('sqlite://')) {
    const file = databaseUrl.slice('sqlite://'.length);
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    const sqlite = new SQLite(file);
    // WAL lets API reads proceed while a worker commits; busy_timeout rides out a second process.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    db = new Kysely<CatalogSchema>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite) }) });
    dialect = 'sqlite';
  } else if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const url = new URL(databaseUrl);
    const schema = url.searchParams.get('schema');
    url.searchParams.delete('schema');
    if (schema !== null && !SCHEMA_NAME.test(schema)) {
      throw new ValidationError(`INLET_DATABASE_URL's schema=${JSON.stringify(schema)} is not a plain PostgreSQL name: use letters, digits and underscores, starting with a letter or underscore`);
    }
    const pool = new pg.Pool({ connectionString: url.toString(), max: options.poolSize ?? DEFAULT_POOL_SIZE });
    // An 'error' event nobody listens to ends the process: a connection the server closed while
    // idle in the pool (or between two statements of a transaction) must cost that connection only.
    const connectionError = options.onConnectionError ?? (() => undefined);
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', connectionError));
    if (schema) {
      const client = await pool.connect();
      try {
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      } finally {
        client.release();
      }
    }
    // `?schema=name` keeps several catalogs (tests, tenants) apart in one database.
    const dialectPool = settingsInEveryTransaction(pool, schema ?? undefined, options.idleInTransactionMs ?? DEFAULT_IDLE_IN_TRANSACTION_MS) as unknown as pg.Pool;
    const kysely = new Kysely<CatalogSchema>({ dialect: new OneSchemaPostgresDialect({ pool: dialectPool }, schema ?? undefined) });
    db = schema ? kysely.withSchema(schema) : kysely;
    schemaName = schema ?? undefined;
    dialect = 'postgres';
  } else {
    throw new ValidationError(`INLET_DATABASE_URL=${JSON.stringify(databaseUrl)} is not supported: use postgres://user@host:port/db or sqlite:///path/catalog.sqlite`);
  }
  try {
    // The migrator looks for its own tables in every schema unless told which: another catalog's
    // schema in the same database would make it skip creating them here.
    const migrationTableSchema = dialect === 'postgres' ? (schemaName ?? (await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db)).rows[0]?.schema) : undefined;
    const { error } = await new Migrator({ db, provider, migrationTableSchema }).migrateToLatest();
    if (error) throw error;
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return { db, dialect, changes: new ChangeCounter(), close: () => db.destroy() };
}
