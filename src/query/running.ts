import type { Config } from '../config/config.js';
import { isOutOfMemory } from '../duckdb/engine.js';
import { errorMessage, QueryError } from '../errors.js';
import type { ReadableFiles } from '../storage/storage.js';
import { canceledByClient } from './admission.js';
import type { Lease } from './sandbox.js';

/** Cleans DuckDB's error text into ClickHouse's one-line shape, naming the limit a query ran into. */
function queryError(err: unknown, config: Config): QueryError {
  if (err instanceof QueryError) return err;
  const message = errorMessage(err).split('\n')[0]!;
  if (isOutOfMemory(err)) {
    return new QueryError(
      `DB::Exception: ${message}: the query needs more memory than INLET_DUCKDB_MEMORY_LIMIT=${config.duckdbMemoryLimit} (DuckDB's working memory) or INLET_QUERY_PROCESS_MEMORY_MB=${config.queryProcessMemoryMb} (all values the query process holds) allow; make it read or build less (MEMORY_LIMIT_EXCEEDED)`,
    );
  }
  return new QueryError(`DB::Exception: ${message}`);
}

/** The longest delay setTimeout keeps: past it, Node fires the timer at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How long DuckDB may take to stop after an interrupt before the query is taken as stuck. */
export const STOP_GRACE_MS = 30_000;

/** What is done with a query DuckDB does not stop when interrupted (a function that loops inside one chunk of work). */
export interface StuckQueries {
  readonly graceMs: number;
  onStuck(query: RunningQuery): void;
}

/**
 * A query holding its admission slot and a sandbox connection, from then until it is closed:
 * it owns the timeout, the interrupt (timeout or client gone) and the release of both, and
 * hands the connection back for reuse only when the query ran to its end.
 */
export class RunningQuery {
  private timedOut = false;
  private abandoned = false;
  private closed = false;
  /** Once the execution is handed out, whoever reads it closes it; before that, the service does. */
  private handedOut = false;
  /** Only a connection whose query ran to its end goes back to the sandbox for the next query. */
  private finished = false;
  private readonly timer: NodeJS.Timeout | undefined;
  /** A chunk DuckDB is still fetching for rows nobody will read: the connection is handed back after it. */
  private fetching: Promise<unknown> = Promise.resolve();
  /** The partition files the query reads stay in the cache until it is done with them. */
  files: ReadableFiles | undefined;
  /** Set once DuckDB has stopped and the slot is free. */
  private stopped = false;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    readonly lease: Lease,
    private readonly slot: () => void,
    private readonly maxExecutionTime: number,
    private readonly started: number,
    private readonly config: Config,
    private readonly signal: AbortSignal | undefined,
    /** Told when DuckDB has not stopped `graceMs` after an interrupt: the query holds its slot and a core for good. */
    private readonly stuck: StuckQueries,
  ) {
    // A limit longer than a timer can hold is as good as none: clamped, the timer never fires early.
    this.timer =
      maxExecutionTime > 0
        ? setTimeout(
            () => {
              this.timedOut = true;
              this.interrupt();
            },
            Math.min(maxExecutionTime * 1000, MAX_TIMER_MS),
          )
        : undefined;
    if (signal?.aborted) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = () => {
    this.abandoned = true;
    this.interrupt();
    if (this.handedOut) this.close();
  };

  /**
   * Interrupts DuckDB, which checks for it between chunks of work: a function that loops inside
   * one chunk never sees it. Past the grace, the query is stuck, and `stuck` is told.
   */
  private interrupt(): void {
    this.lease.connection.interrupt();
    this.watchdog ??= setTimeout(() => {
      if (!this.stopped) this.stuck.onStuck(this);
    }, this.stuck.graceMs);
    this.watchdog.unref();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The error to report for a failure: a timeout or a client gone reads as that, whatever DuckDB said. */
  describeError(err: unknown): QueryError {
    if (this.timedOut) {
      return new QueryError(`Timeout exceeded: elapsed ${((performance.now() - this.started) / 1000).toFixed(3)} seconds, maximum: ${this.maxExecutionTime} (TIMEOUT_EXCEEDED)`);
    }
    return this.abandoned ? canceledByClient() : queryError(err, this.config);
  }

  /**
   * DuckDB forgets an interrupt that comes between statements (each new one clears it): after
   * each step, a query canceled meanwhile stops here instead of starting the next.
   */
  stopIfCanceled(): void {
    if (this.timedOut || this.abandoned) throw new Error('interrupted');
  }

  /** A chunk being fetched: the connection is not handed back before it settles. */
  fetch<T>(chunk: Promise<T>): Promise<T> {
    this.fetching = chunk.catch(() => undefined);
    return chunk;
  }

  /** The query ran to its end: its connection is as good as new. */
  finish(): void {
    this.finished = true;
  }

  /** From now on, whoever reads the execution closes it. */
  handOut(): void {
    this.handedOut = true;
  }

  /** The query failed before it was handed out: closes it, and answers the error to report. */
  fail(err: unknown): QueryError {
    const error = this.describeError(err);
    // A query refused before it ran leaves its connection as good as new.
    this.finished = !this.timedOut;
    this.close();
    return error;
  }

  close = (): void => {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
    const reusable = this.finished && !this.timedOut && !this.abandoned;
    if (!reusable) this.interrupt();
    // The slot is free only once DuckDB has stopped: abandoned work must not pile up past the limit.
    void this.fetching
      .then(() => {
        this.lease.release(reusable);
        this.files?.release();
      })
      .finally(() => {
        this.stopped = true;
        clearTimeout(this.watchdog);
        this.slot();
      });
  };
}
