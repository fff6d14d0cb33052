import { OrgQueryLimitError, QueryError, QueryServiceBusyError } from '../errors.js';

export interface AdmissionLimits {
  /** Queries running at once, all orgs together. */
  readonly concurrency: number;
  /** Queries one org may run at once: below `concurrency`, so another org always finds a slot. */
  readonly orgConcurrency: number;
  /** Queries waiting for a slot, all orgs together; past it the service answers 503. */
  readonly queue: number;
  /** Queries one org may have waiting; past it that org is answered 429. */
  readonly orgQueue: number;
}

interface OrgCount {
  running: number;
  waiting: number;
}

interface Waiter {
  readonly org: string;
  readonly start: () => void;
}

/** A query's place among the running ones: release it once DuckDB has stopped working for it. */
export type Slot = () => void;

/**
 * Who runs now and who waits, in all and per org. A slot is held until the query's DuckDB work
 * has really stopped (not merely until its client left), so abandoned work cannot pile up
 * behind the limit. Waiters start in arrival order, skipping those whose org is at its limit.
 */
export class QueryAdmission {
  private running = 0;
  private readonly waiting: Waiter[] = [];
  private readonly orgs = new Map<string, OrgCount>();

  constructor(private readonly limits: AdmissionLimits) {}

  /** Waits for a slot; refuses at once when the queues are full, and leaves the queue if `signal` aborts. */
  acquire(org: string, signal?: AbortSignal): Promise<Slot> | Slot {
    const count = this.countOf(org);
    if (this.waiting.length === 0 && this.canStart(count)) return this.start(org, count);
    const { concurrency, orgConcurrency, queue, orgQueue } = this.limits;
    if (this.waiting.length >= queue) {
      throw new QueryServiceBusyError(
        `Too many simultaneous queries: the server has ${this.running} running (INLET_QUERY_CONCURRENCY=${concurrency}) and ${this.waiting.length} waiting (INLET_QUERY_QUEUE=${queue}); retry later (TOO_MANY_SIMULTANEOUS_QUERIES)`,
      );
    }
    if (count.waiting >= orgQueue) {
      throw new OrgQueryLimitError(
        `Too many simultaneous queries: this org has ${count.running} running (INLET_QUERY_ORG_CONCURRENCY=${orgConcurrency}) and ${count.waiting} waiting (INLET_QUERY_ORG_QUEUE=${orgQueue}); retry when some have finished (TOO_MANY_SIMULTANEOUS_QUERIES)`,
      );
    }
    if (signal?.aborted) throw canceledByClient();
    return new Promise<Slot>((resolve, reject) => {
      const onAbort = () => {
        const at = this.waiting.indexOf(waiter);
        if (at < 0) return;
        this.waiting.splice(at, 1);
        count.waiting--;
        this.forget(org, count);
        reject(canceledByClient());
      };
      const waiter: Waiter = {
        org,
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          count.waiting--;
          resolve(this.start(org, count));
        },
      };
      count.waiting++;
      this.waiting.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private countOf(org: string): OrgCount {
    let count = this.orgs.get(org);
    if (!count) {
      count = { running: 0, waiting: 0 };
      this.orgs.set(org, count);
    }
    return count;
  }

  private canStart(count: OrgCount): boolean {
    return this.running < this.limits.concurrency && count.running < this.limits.orgConcurrency;
  }

  private start(org: string, count: OrgCount): Slot {
    this.running++;
    count.running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      count.running--;
      this.forget(org, count);
      this.startWaiters();
    };
  }

  private startWaiters(): void {
    for (let i = 0; i < this.waiting.length && this.running < this.limits.concurrency;) {
      const waiter = this.waiting[i]!;
      if (this.canStart(this.countOf(waiter.org))) {
        this.waiting.splice(i, 1);
        waiter.start();
      } else i++;
    }
  }

  /** Orgs with nothing running or waiting take no room. */
  private forget(org: string, count: OrgCount): void {
    if (count.running === 0 && count.waiting === 0 && this.orgs.get(org) === count) this.orgs.delete(org);
  }
}

/** The error of a query whose client went away: nobody reads it, but the log and the tests do. */
export const canceledByClient = () => new QueryError('Query canceled: the client closed the connection (QUERY_WAS_CANCELLED)');
