import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { quoteIdent, quoteLiteral } from '../transform/compile.js';
import { CLICKHOUSE_MACROS } from './clickhouse.js';

export interface SandboxOptions {
  readonly threads: number;
  readonly memoryLimit: string;
  /** Each sandbox spills below its own directory here, removed when it closes. */
  readonly tempRoot: string;
  /** Queries running at once; more wait their turn, so queries cannot starve ingestion. */
  readonly maxConcurrent: number;
  /** Instances created ahead of need, so a query does not pay DuckDB's start-up. */
  readonly warm: number;
}

export interface View {
  readonly schema: string;
  readonly name: string;
  readonly sql: string;
}

/**
 * One query's own DuckDB. It starts open (macros, UTC) and is then sealed for one query:
 * only the given files readable, external access off, the configuration locked. It is never
 * reused: a sealed instance cannot be unsealed, which is the point.
 */
export class Sandbox {
  private closed = false;

  constructor(
    readonly connection: DuckDBConnection,
    private readonly instance: DuckDBInstance,
    private readonly tempDir: string,
    private readonly release: () => void,
  ) {}

  async seal(files: readonly string[], views: readonly View[]): Promise<void> {
    // One round trip: these statements run in order and stop at the first failure.
    const statements = [
      `SET allowed_paths = [${files.map(quoteLiteral).join(', ')}]`,
      'SET enable_external_access = false',
      ...[...new Set(views.map((v) => v.schema))].map((schema) => `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`),
      ...views.map((view) => `CREATE VIEW ${quoteIdent(view.schema)}.${quoteIdent(view.name)} AS ${view.sql}`),
      'SET lock_configuration = true',
    ];
    await this.connection.run(statements.join(';\n'));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
    // Closing takes milliseconds of blocking work: not while the answer is still being sent.
    setImmediate(() => {
      this.connection.closeSync();
      this.instance.closeSync();
      rmSync(this.tempDir, { recursive: true, force: true });
    });
  }
}

interface Warm {
  readonly instance: DuckDBInstance;
  readonly connection: DuckDBConnection;
  readonly tempDir: string;
}

export class SandboxPool {
  private readonly warm: Promise<Warm>[] = [];
  private readonly waiting: (() => void)[] = [];
  private active = 0;
  private stopped = false;

  constructor(private readonly options: SandboxOptions) {
    mkdirSync(options.tempRoot, { recursive: true });
    this.refill();
  }

  private async create(): Promise<Warm> {
    const tempDir = path.join(this.options.tempRoot, randomUUID());
    const instance = await DuckDBInstance.create(':memory:', {
      threads: String(this.options.threads),
      memory_limit: this.options.memoryLimit,
      temp_directory: tempDir,
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    });
    const connection = await instance.connect();
    // Stored timestamps are UTC; now() and comparisons must not depend on the server's zone.
    await connection.run(["SET TimeZone = 'UTC'", ...CLICKHOUSE_MACROS].join(';\n'));
    // The first parse and transaction of an instance are slow (lazy set-up): pay them here, not in a query.
    await connection.run("BEGIN TRANSACTION; SELECT json_serialize_sql('SELECT 1'), epoch_ms(now()); ROLLBACK");
    return { instance, connection, tempDir };
  }

  private refill(): void {
    while (!this.stopped && this.warm.length < this.options.warm) {
      const next = this.create();
      next.catch(() => undefined);
      this.warm.push(next);
    }
  }

  /** Waits for a query slot, then hands out a fresh sandbox; close() frees the slot. */
  async acquire(): Promise<Sandbox> {
    // A freed slot passes straight to the next waiter, so the count never overshoots.
    if (this.active < this.options.maxConcurrent) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      // Refilled when a query ends, not now: creating one costs ~30 ms of CPU the query needs.
      const warm = await (this.warm.shift() ?? this.create());
      return new Sandbox(warm.connection, warm.instance, warm.tempDir, () => this.releaseSlot());
    } catch (err) {
      this.releaseSlot();
      throw err;
    }
  }

  private releaseSlot(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
    setImmediate(() => this.refill());
  }

  async close(): Promise<void> {
    this.stopped = true;
    const idle = this.warm.splice(0);
    for (const pending of idle) {
      const warm = await pending.catch(() => undefined);
      if (!warm) continue;
      warm.connection.closeSync();
      warm.instance.closeSync();
      rmSync(warm.tempDir, { recursive: true, force: true });
    }
  }
}
