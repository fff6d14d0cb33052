import path from 'node:path';
import type { ParsedTransforms } from '../catalog/parsed.js';
import { JsonDuckDBValueConverter, UBIGINT, VARCHAR, type DuckDBConnection, type DuckDBType } from '@duckdb/node-api';
import type { Catalog } from '../catalog/db.js';
import { countTablePartitions, prunedPartitions } from '../catalog/partitions.js';
import type { PartitionRow, User } from '../catalog/schema.js';
import type { Config } from '../config/config.js';
import { QueryError } from '../errors.js';
import { quoteLiteral } from '../transform/compile.js';
import type { PartitionStorage } from '../storage/storage.js';
import { scratchRoot } from '../worker/context.js';
import { refKey, selectOf, type TableRef, type TimeBound } from './ast.js';
import { QueryAdmission } from './admission.js';
import type { Column, Row, Statistics } from './output.js';
import { QueryPlanner, type QueryPlan, type ResolvedTable } from './plan.js';
import { resultColumns } from './result-types.js';
import { RunningQuery, STOP_GRACE_MS } from './running.js';
import { SandboxPool } from './sandbox.js';
import { quarantinePartitions } from './quarantine-table.js';
import { resolveSettings, type QuerySettings } from './settings.js';
import { bindParameters } from './parameters.js';
import { outputFormat, refuseNulBytes, type OutputFormat } from './statement.js';

type Node = Record<string, unknown>;

export interface QueryRequest {
  readonly text: string;
  /** Lowest precedence first: the X-HDX-query-settings header, then the query string. */
  readonly headerSettings: Readonly<Record<string, string>>;
  readonly urlSettings: Readonly<Record<string, string>>;
  /** Values of the statement's `{name:Type}` query parameters, by name. */
  readonly params?: Readonly<Record<string, string>>;
  /** The format of an answer whose statement has no FORMAT clause (ClickHouse's `default_format`). */
  readonly defaultFormat?: string;
}

/** A query that has started: its columns now, its rows as they come. Close it when done, however it ends. */
export interface QueryExecution {
  readonly format: OutputFormat;
  readonly settings: QuerySettings;
  readonly columns: readonly Column[];
  readonly batches: AsyncIterable<readonly Row[]>;
  statistics(): Statistics;
  /** The error to report for a failure while reading rows (a timeout reads as one). */
  describeError(err: unknown): QueryError;
  close(): void;
}

/** A time range in epoch milliseconds; an undefined end is open. */
interface Range {
  readonly fromMs?: number;
  readonly toMs?: number;
}

interface PrunedTable extends ResolvedTable {
  readonly considered: number;
  readonly partitions: readonly PartitionRow[];
}

async function scalarRow(connection: DuckDBConnection, sql: string): Promise<unknown[]> {
  const reader = await connection.runAndReadAll(sql);
  return reader.getRowsJS()[0] ?? [];
}

/**
 * Evaluates the constant sides of the time comparisons: epoch microseconds per bound,
 * undefined where one does not evaluate (the query will then say why). Bounds that read the
 * clock are evaluated inside the transaction the query then runs in, so now() is the very
 * instant the query will see.
 */
async function evaluateBounds(connection: DuckDBConnection, template: Node, bounds: readonly TimeBound[], inTransaction: boolean): Promise<{ micros: (number | undefined)[]; open: boolean }> {
  const names = bounds.map((_, i) => `b${i}`);
  const select = quoteLiteral(
    selectOf(
      template,
      bounds.map((b) => b.expr),
    ),
  );
  try {
    const values = await scalarRow(
      connection,
      `${inTransaction ? 'BEGIN TRANSACTION; ' : ''}SELECT ${names.map((n) => `epoch_us(CAST(${n} AS TIMESTAMP))`).join(', ')} FROM json_execute_serialized_sql(${select}) AS bounds(${names.join(', ')})`,
    );
    return { micros: values.map((v) => (v === null ? undefined : Number(v))), open: inTransaction };
  } catch {
    if (inTransaction) await connection.run('ROLLBACK').catch(() => undefined);
    return { micros: bounds.map(() => undefined), open: false };
  }
}

/**
 * A bound as the inclusive whole millisecond that partitions' min/max (whole milliseconds:
 * timestamps are stored to the second or the millisecond) are compared with.
 */
function inclusiveMs(bound: TimeBound, micros: number): number {
  const ms = micros / 1000;
  if (bound.side === 'lower') return bound.strict ? Math.floor(ms) + 1 : Math.ceil(ms);
  return bound.strict ? Math.ceil(ms) - 1 : Math.floor(ms);
}

/** One read of a table: the tightest range its WHERE allows (AND of its bounds). */
function useRange(bounds: readonly TimeBound[], micros: ReadonlyMap<TimeBound, number | undefined>): Range {
  let fromMs: number | undefined;
  let toMs: number | undefined;
  for (const bound of bounds) {
    const value = micros.get(bound);
    if (value === undefined) continue;
    const ms = inclusiveMs(bound, value);
    if (bound.side === 'lower') fromMs = Math.max(fromMs ?? -Infinity, ms);
    else toMs = Math.min(toMs ?? Infinity, ms);
  }
  return { fromMs, toMs };
}

/** All reads of a table together: partitions any one of them may need. */
function hull(ranges: readonly Range[]): Range {
  const open = (end: keyof Range) => ranges.some((r) => r[end] === undefined);
  return {
    fromMs: open('fromMs') ? undefined : Math.min(...ranges.map((r) => r.fromMs!)),
    toMs: open('toMs') ? undefined : Math.max(...ranges.map((r) => r.toMs!)),
  };
}

function checkTimeRange(settings: QuerySettings, table: TableRef, range: Range, nowMs: number): void {
  const name = refKey(table);
  if (settings.timerangeRequired && range.fromMs === undefined && range.toMs === undefined) {
    throw new QueryError(`Query on ${name} has no time range: with hdx_query_timerange_required, filter the primary timestamp in WHERE (e.g. timestamp >= now() - INTERVAL 1 HOUR) (TIMERANGE_REQUIRED)`);
  }
  if (settings.maxTimerangeSec > 0) {
    if (range.fromMs === undefined) {
      throw new QueryError(`Query on ${name} has no lower time bound: hdx_query_max_timerange_sec=${settings.maxTimerangeSec} needs WHERE to bound the primary timestamp from below (TIMERANGE_REQUIRED)`);
    }
    const seconds = ((range.toMs ?? Math.max(nowMs, range.fromMs)) - range.fromMs) / 1000;
    if (seconds > settings.maxTimerangeSec) {
      throw new QueryError(`Query on ${name} spans ${seconds} seconds, more than hdx_query_max_timerange_sec=${settings.maxTimerangeSec}: narrow the time range (TIMERANGE_EXCEEDED)`);
    }
  }
}

const describePartitions = (tables: readonly PrunedTable[]) => tables.map((t) => `${refKey(t.ref)}: ${t.partitions.length} of ${t.considered} partitions, ${t.partitions.reduce((s, p) => s + p.rows, 0)} rows`);

/** Runs /query statements, each on a connection of the sealed sandbox for the tables it reads. */
export class QueryService {
  private readonly pool: SandboxPool;
  private readonly admission: QueryAdmission;
  private readonly planner: QueryPlanner;

  constructor(
    private readonly catalog: Catalog,
    private readonly config: Config,
    private readonly storage: PartitionStorage,
    transforms: ParsedTransforms,
    /** A query DuckDB did not stop when interrupted (see RunningQuery): only ending the process frees its slot and core. */
    private readonly onStuck: (query: RunningQuery) => void,
  ) {
    this.planner = new QueryPlanner(catalog, storage, transforms);
    this.pool = new SandboxPool({
      threads: config.duckdbThreads,
      memoryLimit: config.duckdbMemoryLimit,
      tempRoot: path.join(scratchRoot(config), 'query'),
      maxSandboxes: 4,
      idleMs: 60_000,
    });
    this.admission = new QueryAdmission({
      concurrency: config.queryConcurrency,
      orgConcurrency: config.queryOrgConcurrency,
      queue: config.queryQueue,
      orgQueue: config.queryOrgQueue,
    });
  }

  /**
   * Runs a statement; `changes` is the count of writes to projects, tables and transforms of
   * the catalog the API writes through (Catalog.changes), and `signal` aborts when the client
   * goes away, which interrupts the query wherever it is.
   */
  async run(user: User, request: QueryRequest, changes: number, signal?: AbortSignal): Promise<QueryExecution> {
    const started = performance.now();
    // Before binding, so that the place named is the one in the text as sent.
    refuseNulBytes(request.text);
    const plan = await this.planner.plan(user.org_id, bindParameters(request.text, request.params ?? {}), changes);
    const { statement } = plan;
    const format = statement.format ?? (request.defaultFormat ? outputFormat(request.defaultFormat) : 'TabSeparated');
    const settings = resolveSettings(request.headerSettings, request.urlSettings, statement.settings);
    const slot = await this.admission.acquire(user.org_id, signal);
    let query: RunningQuery;
    try {
      query = new RunningQuery(await this.pool.acquire(plan.tables.map((t) => t.sandbox)), slot, settings.maxExecutionTime, started, this.config, signal, { graceMs: STOP_GRACE_MS, onStuck: this.onStuck });
    } catch (err) {
      slot();
      throw err;
    }
    const { connection } = query.lease;
    const describeError = (err: unknown) => query.describeError(err);
    try {
      const tables = await this.prepare(query, plan, settings);
      query.stopIfCanceled();
      const stats = {
        rows_read: tables.reduce((sum, t) => sum + t.partitions.reduce((s, p) => s + p.rows, 0), 0),
        bytes_read: tables.reduce((sum, t) => sum + t.partitions.reduce((s, p) => s + p.bytes, 0), 0),
        partitions_considered: tables.reduce((sum, t) => sum + t.considered, 0),
        partitions_read: tables.reduce((sum, t) => sum + t.partitions.length, 0),
      };
      const statistics = () => ({ elapsed: (performance.now() - started) / 1000, ...stats });
      if (statement.explain) {
        const explained = await connection.runAndReadAll(`EXPLAIN ${statement.sql}`);
        query.stopIfCanceled();
        const lines = [...describePartitions(tables), ...explained.getRowsJS().flatMap((row) => String(row[1]).split('\n'))];
        query.finish();
        const batches = (async function* () {
          yield lines.map((line) => [line]);
        })();
        query.handOut();
        return { format, settings, columns: [{ name: 'explain', type: VARCHAR }], batches, statistics, describeError, close: query.close };
      }
      const { result, columns: types } = await query.lease.sandbox.stream(connection, statement.sql);
      query.stopIfCanceled();
      const columns = this.columnsOf(plan, types.names, types.types);
      // The next chunk is always asked of DuckDB before this one is handed over: DuckDB's thread
      // fetches it while Node converts and sends this one (docs/benchmarks.md has the figures).
      let next = query.fetch(result.fetchChunk());
      const batches = (async function* () {
        for (;;) {
          const chunk = await next;
          if (!chunk || chunk.rowCount === 0) break;
          // A closed execution's connection may already be back in its sandbox, or closed.
          if (query.isClosed) throw new Error('the query was closed');
          next = query.fetch(result.fetchChunk());
          yield chunk.convertRows(JsonDuckDBValueConverter);
        }
        query.finish();
      })();
      query.handOut();
      return { format, settings, columns, batches, statistics, describeError, close: query.close };
    } catch (err) {
      throw query.fail(err);
    }
  }

  /** The result's columns, worked out once per plan and result shape. */
  private columnsOf(plan: QueryPlan, names: readonly string[], types: readonly DuckDBType[]): readonly Column[] {
    const key = `${names.join('\n')}\n${types.join('\n')}`;
    if (plan.columns?.key === key) return plan.columns.columns;
    // DuckDB spells ClickHouse's count() as count_star(); clients key on the name, and on its type, UInt64.
    const counts = names.map((name) => name === 'count_star()');
    const columns = resultColumns(
      plan.tree,
      plan.tables,
      names.map((name, i) => (counts[i] ? 'count()' : name)),
      types.map((type, i) => (counts[i] ? UBIGINT : type)),
    );
    plan.columns = { key, columns };
    return columns;
  }

  /** Prunes each table to the partitions its time range needs, checks the limits, and points the views at them. */
  private async prepare(query: RunningQuery, plan: QueryPlan, settings: QuerySettings): Promise<PrunedTable[]> {
    const { lease } = query;
    const { uses, all, clock } = plan.bounds;
    let micros = clock ? undefined : plan.fixedBounds;
    if (!micros) {
      const evaluated = all.length > 0 ? await evaluateBounds(lease.connection, plan.template, all, clock) : { micros: [], open: false };
      micros = evaluated.micros;
      lease.inTransaction = evaluated.open;
      if (!clock) plan.fixedBounds = micros;
    }
    const nowMs = Date.now();
    const valueOf = new Map(all.map((b, i) => [b, micros[i]]));

    const tables: PrunedTable[] = [];
    for (const table of plan.tables) {
      const ranges = (uses.get(refKey(table.ref)) ?? [[]]).map((bounds) => useRange(bounds, valueOf));
      // A system table has no time to bound: the time-range settings are about data.
      if (table.row) ranges.forEach((range) => checkTimeRange(settings, table.ref, range, nowMs));
      const range = hull(ranges);
      const empty = range.fromMs !== undefined && range.toMs !== undefined && range.fromMs > range.toMs;
      const { row } = table;
      const { considered, partitions } = !row
        ? { considered: 0, partitions: [] }
        : table.quarantine
          ? await quarantinePartitions(this.catalog, row.id)
          : empty
            ? { considered: await countTablePartitions(this.catalog, row.id), partitions: [] }
            : await prunedPartitions(this.catalog, row.id, range);
      tables.push({ ...table, considered, partitions });
    }
    const rowsToRead = tables.reduce((sum, t) => sum + t.partitions.reduce((s, p) => s + p.rows, 0), 0);
    if (settings.maxRows > 0 && rowsToRead > settings.maxRows) {
      throw new QueryError(`Limit for rows to read exceeded: the query would read ${rowsToRead} rows, hdx_query_max_rows is ${settings.maxRows}; narrow the time range (TOO_MANY_ROWS)`);
    }
    const files = await this.storage.open(tables.map((t) => ({ dir: t.sandbox.dir ?? '', partitions: t.partitions })));
    query.files = files;
    await lease.sandbox.setFiles(
      lease.connection,
      tables.map((t, i) => ({
        id: t.sandbox.id,
        files: files.files[i]!,
        // Partitions written before schema keys were kept (null) may differ: unify them.
        sameSchema: t.partitions.every((p) => p.schema_key !== null && p.schema_key === t.partitions[0]!.schema_key),
      })),
    );
    return tables;
  }

  async close(): Promise<void> {
    await this.pool.close();
    await this.planner.close();
  }
}
