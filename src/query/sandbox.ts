import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { type DuckDBConnection, type DuckDBInstance, type DuckDBPreparedStatement, type DuckDBResult, type DuckDBType } from '@duckdb/node-api';
import { openDuckDB, sealStatements } from '../duckdb/instances.js';
import { quoteIdent, quoteLiteral } from '../transform/compile.js';
import { CLICKHOUSE_MACROS } from './clickhouse.js';

export interface SandboxOptions {
  readonly threads: number;
  readonly memoryLimit: string;
  /** Each sandbox keeps its empty files and spills below its own directory here, removed when it closes. */
  readonly tempRoot: string;
  /** Sandboxes kept open; the least recently used idle one closes to make room. */
  readonly maxSandboxes: number;
  /** An idle sandbox closes after this long, giving back its caches. */
  readonly idleMs: number;
}

/** What a statement's result holds: its columns' names and types. */
export interface ResultColumns {
  readonly names: readonly string[];
  readonly types: readonly DuckDBType[];
}

/** A table a sandbox can read: the view `schema.name` over files below `dir`. */
export interface SandboxTable {
  readonly id: string;
  readonly schema: string;
  readonly name: string;
  /** The table's storage directory; the sandbox can read nothing else of the data dir. Undefined for a table of no files (a system table). */
  readonly dir: string | undefined;
  /** A SELECT of no rows with the table's columns, for a query whose time range holds no partition. */
  readonly emptySelect: string;
}

/** The files a query reads of one table; files of one schema are read without unifying columns by name, which costs. */
export interface SandboxFiles {
  readonly id: string;
  readonly files: readonly string[];
  readonly sameSchema: boolean;
}

/** What a sandbox is built for: the same tables, names and columns give the same sandbox. */
const keyOf = (tables: readonly SandboxTable[]) => JSON.stringify([...tables].sort((a, b) => a.id.localeCompare(b.id)));

/**
 * A sealed DuckDB for one set of tables, kept open across queries so they find it warm
 * (parsed macros, Parquet footers and file pages in its caches). Sealed once: only the
 * tables' own directories readable, external access off, the configuration locked. Each
 * table is a view over `getvariable(...)`, a connection-local list of files that a query
 * sets to its pruned partitions, with their columns unified by name where their schemas differ.
 */
export class Sandbox {
  private readonly idle: DuckDBConnection[] = [];
  private readonly variables = new Map<string, { variable: string; union: string; emptyFile: string }>();
  /** The SET VARIABLE statement last run on each connection. */
  private readonly filesSet = new WeakMap<DuckDBConnection, string>();
  /** The statement each connection last ran, kept prepared, with its result's columns. */
  private readonly prepared = new WeakMap<DuckDBConnection, { key: string; statement: DuckDBPreparedStatement; columns: ResultColumns }>();
  active = 0;
  lastUsed = performance.now();
  closed = false;

  private constructor(
    private readonly instance: DuckDBInstance,
    readonly dir: string,
  ) {}

  static async create(tables: readonly SandboxTable[], options: SandboxOptions): Promise<Sandbox> {
    // Named by process, so a restart can tell a crashed server's directories from a live one's.
    const dir = path.join(options.tempRoot, `${process.pid}-${randomUUID()}`);
    const emptyDir = path.join(dir, 'empty');
    mkdirSync(emptyDir, { recursive: true });
    const instance = await openDuckDB({ kind: 'query-sandbox', threads: options.threads, memoryLimit: options.memoryLimit, tempDirectory: path.join(dir, 'spill') });
    const sandbox = new Sandbox(instance, dir);
    try {
      const connection = await instance.connect();
      const statements = [
        // Stored timestamps are UTC; now() and comparisons must not depend on the server's zone.
        "SET GLOBAL TimeZone = 'UTC'",
        // Dashboards read the same recent partitions again and again.
        'SET GLOBAL parquet_metadata_cache = true',
        ...CLICKHOUSE_MACROS,
      ];
      tables.forEach((table, i) => {
        const variable = `inlet_files_${i}`;
        const union = `inlet_union_${i}`;
        const emptyFile = path.join(emptyDir, `${i}.parquet`);
        sandbox.variables.set(table.id, { variable, union, emptyFile });
        statements.push(
          `COPY (${table.emptySelect}) TO ${quoteLiteral(emptyFile)} (FORMAT parquet)`,
          `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(table.schema)}`,
          `SET VARIABLE ${variable} = [${quoteLiteral(emptyFile)}]`,
          `SET VARIABLE ${union} = false`,
          `CREATE VIEW ${quoteIdent(table.schema)}.${quoteIdent(table.name)} AS SELECT * FROM read_parquet(getvariable('${variable}'), union_by_name = getvariable('${union}'))`,
        );
      });
      statements.push(...sealStatements([...tables.flatMap((t) => (t.dir === undefined ? [] : [t.dir])), emptyDir], { lockConfiguration: true }));
      await connection.run(statements.join(';\n'));
      // The first parse and transaction of an instance are slow (lazy set-up): pay them here, not in a query.
      await connection.run("BEGIN TRANSACTION; SELECT json_serialize_sql('SELECT 1'), epoch_ms(now()); ROLLBACK");
      sandbox.idle.push(connection);
      return sandbox;
    } catch (err) {
      sandbox.close();
      throw err;
    }
  }

  /** An idle connection, or a new one; the caller has counted itself in `active`. */
  async connect(): Promise<DuckDBConnection> {
    return this.idle.pop() ?? (await this.instance.connect());
  }

  /** Takes a connection back; one that was interrupted or left mid-result is closed instead. */
  async release(connection: DuckDBConnection | undefined, reusable: boolean, inTransaction: boolean): Promise<void> {
    this.lastUsed = performance.now();
    try {
      if (reusable && !this.closed && connection) {
        if (inTransaction) {
          // Whether a rollback keeps variables is DuckDB's business: set them again next time.
          this.filesSet.delete(connection);
          await connection.run('ROLLBACK');
        }
        this.idle.push(connection);
      } else {
        connection?.closeSync();
      }
    } catch {
      connection?.closeSync();
    } finally {
      this.active--;
    }
  }

  /**
   * Points the views at the files a query reads, on that query's connection. A dashboard
   * repeating a query on the same connection finds them already set.
   */
  async setFiles(connection: DuckDBConnection, tables: readonly SandboxFiles[]): Promise<void> {
    if (tables.length === 0) return;
    const statement = tables
      .map(({ id, files, sameSchema }) => {
        const { variable, union, emptyFile } = this.variables.get(id)!;
        const list = files.length > 0 ? files : [emptyFile];
        return `SET VARIABLE ${variable} = [${list.map(quoteLiteral).join(', ')}];\nSET VARIABLE ${union} = ${!sameSchema && files.length > 1}`;
      })
      .join(';\n');
    if (this.filesSet.get(connection) === statement) return;
    this.filesSet.delete(connection);
    await connection.run(statement);
    this.filesSet.set(connection, statement);
  }

  /**
   * Runs one SELECT on a connection whose views setFiles pointed, streaming. The statement
   * stays prepared for the next query on the connection: a dashboard repeats itself, and
   * nothing it was bound against (the views' files, the catalog) can have changed when the
   * text and the files are the same.
   */
  async stream(connection: DuckDBConnection, sql: string): Promise<{ result: DuckDBResult; columns: ResultColumns }> {
    const key = `${this.filesSet.get(connection) ?? ''}\n${sql}`;
    let kept = this.prepared.get(connection);
    if (kept?.key !== key) {
      this.prepared.delete(connection);
      kept?.statement.destroySync();
      const statement = await connection.prepare(sql);
      // Asked of the statement once, not of every result: each name and type is a call into DuckDB.
      const columns = { names: Array.from({ length: statement.columnCount }, (_, i) => statement.columnName(i)), types: Array.from({ length: statement.columnCount }, (_, i) => statement.columnType(i)) };
      kept = { key, statement, columns };
      this.prepared.set(connection, kept);
    }
    return { result: await kept.statement.stream(), columns: kept.columns };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const connection of this.idle.splice(0)) connection.closeSync();
    this.instance.closeSync();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Removes sandbox directories (empty files, spill) left by servers that are no longer running. */
function removeOrphans(tempRoot: string): void {
  for (const name of readdirSync(tempRoot)) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1] ?? NaN);
    if (!Number.isInteger(pid) || (pid !== process.pid && !isAlive(pid))) rmSync(path.join(tempRoot, name), { recursive: true, force: true });
  }
}

/** A connection of a sandbox, held for one query. */
export interface Lease {
  readonly connection: DuckDBConnection;
  readonly sandbox: Sandbox;
  /** Whether the query opened a transaction, to be rolled back before the connection is reused. */
  inTransaction: boolean;
  /** Settles once the connection is back in its sandbox (or closed). */
  release(reusable: boolean): Promise<void>;
}

/** Sandboxes by table set, bounded in number (how many queries run at once is QueryAdmission's business). */
export class SandboxPool {
  private readonly creating = new Map<string, Promise<Sandbox>>();
  private readonly ready = new Map<string, Sandbox>();
  private stopped = false;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: SandboxOptions) {
    mkdirSync(options.tempRoot, { recursive: true });
    removeOrphans(options.tempRoot);
    this.sweeper = setInterval(() => this.closeIdle(options.idleMs), Math.max(1000, options.idleMs / 4));
    this.sweeper.unref();
  }

  /** A connection of the sandbox for these tables. */
  async acquire(tables: readonly SandboxTable[]): Promise<Lease> {
    if (this.stopped) throw new Error('the query service is shutting down');
    const sandbox = await this.sandboxFor(tables);
    let connection: DuckDBConnection;
    try {
      connection = await sandbox.connect();
    } catch (err) {
      await sandbox.release(undefined, false, false);
      throw err;
    }
    let released = false;
    const lease: Lease = {
      connection,
      sandbox,
      inTransaction: false,
      release: (reusable) => {
        if (released) return Promise.resolve();
        released = true;
        // Rolling back waits for DuckDB: not while the answer is still being sent.
        return new Promise<void>((resolve) => setImmediate(() => void sandbox.release(connection, reusable, lease.inTransaction).finally(resolve)));
      },
    };
    return lease;
  }

  /** The sandbox for these tables, counted as in use before anything else can close it. */
  private async sandboxFor(tables: readonly SandboxTable[]): Promise<Sandbox> {
    const key = keyOf(tables);
    for (;;) {
      let pending = this.creating.get(key);
      const ready = this.ready.get(key);
      if (!ready && !pending) {
        pending = Sandbox.create(tables, this.options);
        this.creating.set(key, pending);
        const settle = () => this.creating.get(key) === pending && this.creating.delete(key);
        pending.then((created) => {
          settle();
          this.ready.set(key, created);
        }, settle);
      }
      const sandbox = ready ?? (await pending!);
      if (sandbox.closed) continue;
      sandbox.active++;
      sandbox.lastUsed = performance.now();
      this.closeOverLimit();
      return sandbox;
    }
  }

  /** Closes the least recently used idle sandboxes beyond the limit. */
  private closeOverLimit(): void {
    const idle = [...this.ready].filter(([, s]) => s.active === 0).sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
    for (const [key, sandbox] of idle.slice(0, Math.max(0, this.ready.size - this.options.maxSandboxes))) this.closeSandbox(key, sandbox);
  }

  private closeIdle(idleMs: number): void {
    const now = performance.now();
    for (const [key, sandbox] of this.ready) if (sandbox.active === 0 && now - sandbox.lastUsed > idleMs) this.closeSandbox(key, sandbox);
  }

  private closeSandbox(key: string, sandbox: Sandbox): void {
    if (this.ready.get(key) === sandbox) this.ready.delete(key);
    sandbox.close();
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweeper);
    await Promise.allSettled(this.creating.values());
    for (const [key, sandbox] of this.ready) this.closeSandbox(key, sandbox);
  }
}
