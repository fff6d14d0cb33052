import path from 'node:path';
import { JsonDuckDBValueConverter, UBIGINT, VARCHAR, type DuckDBConnection } from '@duckdb/node-api';
import type { Catalog } from '../catalog/db.js';
import { countTablePartitions, prunedPartitions } from '../catalog/partitions.js';
import { findTableWithTransform, resourcesGeneration } from '../catalog/resources.js';
import type { PartitionRow, TableRow, User } from '../catalog/schema.js';
import type { Config } from '../config/config.js';
import { TtlCache } from '../ttl-cache.js';
import { errorMessage, QueryError } from '../errors.js';
import { quoteIdent, quoteLiteral, storedColumns } from '../transform/compile.js';
import type { Transform } from '../transform/model.js';
import { validateTransform } from '../transform/validate.js';
import type { PartitionStorage, ReadableFiles } from '../storage/storage.js';
import { scratchRoot } from '../worker/context.js';
import { parseSerialized, readsClock, refKey, selectOf, tableRefs, timeBounds, type TableRef, type TimeBound } from './ast.js';

type Node = Record<string, unknown>;
import { canceledByClient, QueryAdmission } from './admission.js';
import { StatementParser } from './parser.js';
import type { Column, Row, Statistics } from './output.js';
import { SandboxPool, type Lease, type SandboxTable } from './sandbox.js';
import { quarantinedTable, quarantinePartitions, quarantineSandbox } from './quarantine-table.js';
import { resolveSettings, type QuerySettings } from './settings.js';
import { bindParameters } from './parameters.js';
import { outputFormat, parseStatement, type OutputFormat, type Statement } from './statement.js';

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

interface ResolvedTable {
  readonly ref: TableRef;
  readonly row: TableRow;
  readonly transform: Transform | undefined;
  /** Its view in a sandbox, built once with the resolution. */
  readonly sandbox: SandboxTable;
  /** `project.table#rejects`: the table's quarantine, not its rows. */
  readonly quarantine?: boolean;
}

interface PrunedTable extends ResolvedTable {
  readonly considered: number;
  readonly partitions: readonly PartitionRow[];
}

/** Cleans DuckDB's error text into ClickHouse's one-line shape, naming the limit a query ran into. */
function queryError(err: unknown, config: Config): QueryError {
  if (err instanceof QueryError) return err;
  const message = errorMessage(err).split('\n')[0]!;
  if (message.startsWith('Out of Memory Error')) {
    return new QueryError(
      `DB::Exception: ${message}: the query needs more memory than INLET_DUCKDB_MEMORY_LIMIT=${config.duckdbMemoryLimit} (DuckDB's working memory) or INLET_QUERY_PROCESS_MEMORY_MB=${config.queryProcessMemoryMb} (all values the query process holds) allow; make it read or build less (MEMORY_LIMIT_EXCEEDED)`,
    );
  }
  return new QueryError(`DB::Exception: ${message}`);
}

async function scalarRow(connection: DuckDBConnection, sql: string): Promise<unknown[]> {
  const reader = await connection.runAndReadAll(sql);
  return reader.getRowsJS()[0] ?? [];
}

/** Validated transforms by their stored text: validating one costs more than the rest of a query's catalog work. */
const transforms = new TtlCache<string, Transform>(1000);
const CACHE_MS = 10 * 60_000;

function transformOf(type: string, settings: string): Transform {
  const key = `${type}\n${settings}`;
  const cached = transforms.get(key);
  if (cached) return cached;
  const { transform } = validateTransform(type, JSON.parse(settings));
  transforms.set(key, transform, CACHE_MS);
  return transform;
}

/** How long a table's resolution is kept (see QueryService.resolvedTables). */
const RESOLVED_MS = 5_000;

/**
 * Evaluates the constant sides of the time comparisons: epoch microseconds per bound,
 * undefined where one does not evaluate (the query will then say why). Bounds that read the
 * clock are evaluated inside the transaction the query then runs in, so now() is the very
 * instant the query will see.
 */
async function evaluateBounds(connection: DuckDBConnection, template: Node, bounds: readonly TimeBound[], inTransaction: boolean): Promise<{ micros: (number | undefined)[]; open: boolean }> {
  const names = bounds.map((_, i) => `b${i}`);
  const select = quoteLiteral(selectOf(template, bounds.map((b) => b.expr)));
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

/** What the table's view in a sandbox needs: its directory, and its columns for a range holding no partition. */
function sandboxTable(storage: PartitionStorage, ref: TableRef, row: TableRow, transform: Transform | undefined): SandboxTable {
  const columns = transform ? storedColumns(transform) : [];
  const select = columns.length > 0 ? columns.map((c) => `NULL::${c.type} AS ${quoteIdent(c.name)}`).join(', ') : 'NULL::VARCHAR AS "no_columns"';
  return { id: row.id, schema: ref.project, name: ref.table, dir: storage.readableDir(row), emptySelect: `SELECT ${select} WHERE false` };
}

const describePartitions = (tables: readonly PrunedTable[]) =>
  tables.map((t) => `${refKey(t.ref)}: ${t.partitions.length} of ${t.considered} partitions, ${t.partitions.reduce((s, p) => s + p.rows, 0)} rows`);

/** What the text of a statement tells, kept: dashboards send the same statements again and again. */
interface Analysis {
  readonly statement: Node;
  readonly refs: readonly TableRef[];
  /** By the tables' primary columns: the bounds on them, and their values when none reads the clock. */
  readonly bounds: Map<string, { uses: Map<string, TimeBound[][]>; all: TimeBound[]; fixed?: (number | undefined)[] }>;
}

/** Runs /query statements, each on a connection of the sealed sandbox for the tables it reads. */
export class QueryService {
  private readonly pool: SandboxPool;
  private readonly admission: QueryAdmission;
  private parser: Promise<StatementParser> | undefined;
  private template: Node | undefined;
  private readonly analyses = new TtlCache<string, Analysis>(500);
  /** What the caller's text says (SQL, FORMAT, SETTINGS), per text: dashboards repeat themselves. */
  private readonly statements = new TtlCache<string, Statement>(500);
  /**
   * Tables as queries name them (with their transform), per org: a dashboard's panels name the
   * same few, and the lookup was a tenth of a query's time over the same data. A change to
   * projects, tables or transforms made through this process drops them at once; one made
   * through another API process shows here within RESOLVED_MS, as a logout does (session cache).
   */
  private readonly resolvedTables = new TtlCache<string, { generation: number; table: ResolvedTable }>(1000);

  constructor(
    private readonly catalog: Catalog,
    private readonly config: Config,
    private readonly storage: PartitionStorage,
    /** Changes to projects, tables and transforms so far, wherever they are made (see resolvedTables). */
    private readonly generation: () => number = resourcesGeneration,
  ) {
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

  /** What DuckDB's parse of the statement says, worked out once per text. */
  private async analyse(sql: string): Promise<Analysis> {
    const cached = this.analyses.get(sql);
    if (cached) return cached;
    this.parser ??= StatementParser.create();
    const parser = await this.parser;
    this.template ??= parseSerialized(await parser.serialize('SELECT NULL'));
    const statement = parseSerialized(await parser.serialize(sql));
    const analysis: Analysis = { statement, refs: tableRefs(statement), bounds: new Map() };
    this.analyses.set(sql, analysis, CACHE_MS);
    return analysis;
  }

  /** Runs a statement; `signal` aborts when its client goes away, which interrupts it wherever it is. */
  async run(user: User, request: QueryRequest, signal?: AbortSignal): Promise<QueryExecution> {
    const started = performance.now();
    const text = bindParameters(request.text, request.params ?? {});
    let statement = this.statements.get(text);
    if (!statement) {
      statement = parseStatement(text);
      this.statements.set(text, statement, CACHE_MS);
    }
    const format = statement.format ?? (request.defaultFormat ? outputFormat(request.defaultFormat) : 'TabSeparated');
    const settings = resolveSettings(request.headerSettings, request.urlSettings, statement.settings);
    const analysis = await this.analyse(statement.sql);
    const resolved = await Promise.all(analysis.refs.map((ref) => this.resolveTable(user, ref)));
    const slot = await this.admission.acquire(user.org_id, signal);
    let lease: Lease;
    try {
      lease = await this.pool.acquire(resolved.map((t) => t.sandbox));
    } catch (err) {
      slot();
      throw err;
    }
    let timedOut = false;
    let abandoned = false;
    let closed = false;
    // Once the execution is handed out, whoever reads it closes it; before that, run() does.
    let handedOut = false;
    // Only a connection whose query ran to its end goes back to the sandbox for the next query.
    let finished = false;
    const timer =
      settings.maxExecutionTime > 0
        ? setTimeout(() => {
            timedOut = true;
            lease.connection.interrupt();
          }, settings.maxExecutionTime * 1000)
        : undefined;
    const describeError = (err: unknown): QueryError =>
      timedOut
        ? new QueryError(`Timeout exceeded: elapsed ${((performance.now() - started) / 1000).toFixed(3)} seconds, maximum: ${settings.maxExecutionTime} (TIMEOUT_EXCEEDED)`)
        : abandoned
          ? canceledByClient()
          : queryError(err, this.config);
    // A chunk DuckDB is still fetching for rows nobody will read: the connection is handed back after it.
    let fetching: Promise<unknown> = Promise.resolve();
    // The partition files the query reads stay in the cache until it is done with them.
    const held: { files?: ReadableFiles } = {};
    const close = () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      const reusable = finished && !timedOut && !abandoned;
      if (!reusable) lease.connection.interrupt();
      // The slot is free only once DuckDB has stopped: abandoned work must not pile up past the limit.
      void fetching
        .then(() => {
          lease.release(reusable);
          held.files?.release();
        })
        .finally(slot);
    };
    const onAbort = () => {
      abandoned = true;
      lease.connection.interrupt();
      if (handedOut) close();
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    // DuckDB forgets an interrupt that comes between statements (each new one clears it):
    // after each step, a query canceled meanwhile stops here instead of starting the next.
    const stopIfCanceled = () => {
      if (timedOut || abandoned) throw new Error('interrupted');
    };
    try {
      const tables = await this.prepare(lease, analysis, resolved, settings, held);
      stopIfCanceled();
      const stats = {
        rows_read: tables.reduce((sum, t) => sum + t.partitions.reduce((s, p) => s + p.rows, 0), 0),
        bytes_read: tables.reduce((sum, t) => sum + t.partitions.reduce((s, p) => s + p.bytes, 0), 0),
        partitions_considered: tables.reduce((sum, t) => sum + t.considered, 0),
        partitions_read: tables.reduce((sum, t) => sum + t.partitions.length, 0),
      };
      const statistics = () => ({ elapsed: (performance.now() - started) / 1000, ...stats });
      if (statement.explain) {
        const plan = await lease.connection.runAndReadAll(`EXPLAIN ${statement.sql}`);
        stopIfCanceled();
        const lines = [...describePartitions(tables), ...plan.getRowsJS().flatMap((row) => String(row[1]).split('\n'))];
        finished = true;
        const batches = (async function* () {
          yield lines.map((line) => [line]);
        })();
        handedOut = true;
        return { format, settings, columns: [{ name: 'explain', type: VARCHAR }], batches, statistics, describeError, close };
      }
      const { result, columns: resultColumns } = await lease.sandbox.stream(lease.connection, statement.sql);
      stopIfCanceled();
      // DuckDB spells ClickHouse's count() as count_star(); clients key on the name, and on its type, UInt64.
      const columns = resultColumns.names.map((name, i) => (name === 'count_star()' ? { name: 'count()', type: UBIGINT } : { name, type: resultColumns.types[i]! }));
      // The next chunk is always asked of DuckDB before this one is handed over: DuckDB's thread
      // fetches it while Node converts and sends this one (a 1.7 M-row answer 11.4-14.3 -> 11.1-11.7 s).
      const fetchChunk = () => {
        const chunk = result.fetchChunk();
        fetching = chunk.catch(() => undefined);
        return chunk;
      };
      let next = fetchChunk();
      const batches = (async function* () {
        for (;;) {
          const chunk = await next;
          if (!chunk || chunk.rowCount === 0) break;
          // A closed execution's connection may already be back in its sandbox, or closed.
          if (closed) throw new Error('the query was closed');
          next = fetchChunk();
          yield chunk.convertRows(JsonDuckDBValueConverter);
        }
        finished = true;
      })();
      handedOut = true;
      return { format, settings, columns, batches, statistics, describeError, close };
    } catch (err) {
      const error = describeError(err);
      // A query refused before it ran leaves its connection as good as new.
      finished = !timedOut;
      close();
      throw error;
    }
  }

  private async resolveTable(user: User, ref: TableRef): Promise<ResolvedTable> {
    const key = `${user.org_id}\n${ref.project}\n${ref.table}`;
    // Read before the lookup: a change committed during it leaves the entry already out of date.
    const generation = this.generation();
    const cached = this.resolvedTables.get(key);
    if (cached && cached.generation === generation) return cached.table;
    // Another org's table is "not found", exactly like one that does not exist.
    const quarantined = quarantinedTable(ref);
    const found = await findTableWithTransform(this.catalog, user.org_id, ref.project, quarantined ?? ref.table);
    if (!found) throw new QueryError(`Table ${ref.project}.${ref.table} doesn't exist (UNKNOWN_TABLE)`);
    const transform = found.transform && !quarantined ? transformOf(found.transform.type, found.transform.settings) : undefined;
    const sandbox = quarantined ? quarantineSandbox(this.storage, ref, found.table) : sandboxTable(this.storage, ref, found.table, transform);
    const table = { ref, row: found.table, transform, sandbox, quarantine: quarantined !== undefined };
    this.resolvedTables.set(key, { generation, table }, RESOLVED_MS);
    return table;
  }

  /** Prunes each table to the partitions its time range needs, checks the limits, and points the views at them. */
  private async prepare(lease: Lease, analysis: Analysis, resolved: readonly ResolvedTable[], settings: QuerySettings, held: { files?: ReadableFiles }): Promise<PrunedTable[]> {
    // The bounds depend on which column is each table's primary timestamp.
    const primaries = resolved.map((t) => `${refKey(t.ref)}=${t.transform?.primary ?? ''}`).join('\n');
    let found = analysis.bounds.get(primaries);
    if (!found) {
      const byKey = new Map(resolved.map((t) => [refKey(t.ref), t]));
      const uses = timeBounds(analysis.statement, (ref) => byKey.get(refKey(ref))?.transform?.primary ?? '');
      found = { uses, all: [...uses.values()].flat(2) };
      analysis.bounds.set(primaries, found);
    }
    const { uses, all } = found;
    const clock = all.some((b) => readsClock(b.expr));
    let micros = clock ? undefined : found.fixed;
    if (!micros) {
      const evaluated = all.length > 0 ? await evaluateBounds(lease.connection, this.template!, all, clock) : { micros: [], open: false };
      micros = evaluated.micros;
      lease.inTransaction = evaluated.open;
      if (!clock) found.fixed = micros;
    }
    const nowMs = Date.now();
    const valueOf = new Map(all.map((b, i) => [b, micros[i]]));

    const tables: PrunedTable[] = [];
    for (const table of resolved) {
      const ranges = (uses.get(refKey(table.ref)) ?? [[]]).map((bounds) => useRange(bounds, valueOf));
      ranges.forEach((range) => checkTimeRange(settings, table.ref, range, nowMs));
      const range = hull(ranges);
      const empty = range.fromMs !== undefined && range.toMs !== undefined && range.fromMs > range.toMs;
      const { considered, partitions } = table.quarantine
        ? await quarantinePartitions(this.catalog, table.row.id)
        : empty
          ? { considered: await countTablePartitions(this.catalog, table.row.id), partitions: [] }
          : await prunedPartitions(this.catalog, table.row.id, range);
      tables.push({ ...table, considered, partitions });
    }
    const rowsToRead = tables.reduce((sum, t) => sum + t.partitions.reduce((s, p) => s + p.rows, 0), 0);
    if (settings.maxRows > 0 && rowsToRead > settings.maxRows) {
      throw new QueryError(`Limit for rows to read exceeded: the query would read ${rowsToRead} rows, hdx_query_max_rows is ${settings.maxRows}; narrow the time range (TOO_MANY_ROWS)`);
    }
    held.files = await this.storage.open(tables.map((t) => ({ dir: t.sandbox.dir, partitions: t.partitions })));
    await lease.sandbox.setFiles(
      lease.connection,
      tables.map((t, i) => ({
        id: t.sandbox.id,
        files: held.files!.files[i]!,
        // Partitions written before schema keys were kept (null) may differ: unify them.
        sameSchema: t.partitions.every((p) => p.schema_key !== null && p.schema_key === t.partitions[0]!.schema_key),
      })),
    );
    return tables;
  }

  async close(): Promise<void> {
    await this.pool.close();
    const parser = await this.parser?.catch(() => undefined);
    parser?.close();
  }
}
