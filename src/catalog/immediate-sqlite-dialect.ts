import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDialectConfig } from 'kysely';

/**
 * SQLite whose transactions take the write lock as they begin (`BEGIN IMMEDIATE`). A deferred
 * transaction reads a snapshot, and when it then writes after another process (the worker pool)
 * committed, SQLite answers SQLITE_BUSY at once, without waiting out busy_timeout: an API call
 * failed with "database is locked". Taken at the start, the lock is waited for like any other.
 */
export class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly config: SqliteDialectConfig) {
    super(config);
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.config);
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}
