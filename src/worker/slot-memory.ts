import type { DuckDBInstance } from '@duckdb/node-api';
import { withConnection } from '../duckdb/engine.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * The DuckDB memory a worker's slots share when no per-slot limit was configured. The slots
 * running a task split the budget equally: a task alone on the worker (the usual case, since a
 * job runs one INDEX task at a time by default) converts and writes with all of it instead of
 * spilling at its fixed share, and a second task starting lowers the first's limit (DuckDB
 * spills what no longer fits). The sum of the limits never passes the budget, as with fixed
 * shares. Changes are applied one at a time, in the order slots asked.
 */
export class SlotMemory {
  private readonly busy = new Set<DuckDBInstance>();
  private applied: Promise<void> = Promise.resolve();

  constructor(
    private readonly budgetMb: number,
    private readonly log: Logger,
  ) {}

  /** Gives `engine` its share before its task runs; the other busy slots' shares shrink first. */
  acquire(engine: DuckDBInstance): Promise<void> {
    this.busy.add(engine);
    return this.apply();
  }

  /** The task on `engine` is over: the other busy slots grow into its share. */
  release(engine: DuckDBInstance): Promise<void> {
    this.busy.delete(engine);
    return this.apply();
  }

  /** Megabytes each busy slot may use now. */
  shareMb(): number {
    return Math.floor(this.budgetMb / Math.max(1, this.busy.size));
  }

  private apply(): Promise<void> {
    const run = async () => {
      const share = this.shareMb();
      for (const engine of this.busy) {
        try {
          await withConnection(engine, undefined, (c) => c.run(`SET memory_limit = '${share}MB'`));
        } catch (err) {
          // DuckDB keeps the old limit when it cannot free enough: the task goes on, over its share until it ends.
          this.log.warn({ err: errorMessage(err), shareMb: share }, 'changing a worker slot’s DuckDB memory limit failed');
        }
      }
    };
    this.applied = this.applied.then(run, run);
    return this.applied;
  }
}
