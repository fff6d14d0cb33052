import { reapTasks } from '../catalog/tasks.js';
import { errorMessage } from '../errors.js';
import { sleep } from '../time.js';
import { MAX_HEARTBEAT_MS, type WorkerContext } from './context.js';

/**
 * Runs the reaper about once a heartbeat until `signal` ends: a task whose worker died is
 * runnable again within a second of its lease running out. Every worker process runs this
 * loop; the catalog lets one reap at a time, and the others skip their turn.
 */
export async function runReaper(ctx: WorkerContext, signal: AbortSignal, onFreed: () => void): Promise<void> {
  while (!signal.aborted) {
    try {
      const reaped = await reapTasks(ctx.catalog);
      if (reaped && reaped.failed + reaped.freed > 0) {
        ctx.log.info(reaped, `leases ran out: ${reaped.freed} tasks are READY again, ${reaped.failed} failed after too many lost attempts`);
        onFreed();
      }
    } catch (err) {
      ctx.log.warn({ err: errorMessage(err) }, 'reaping expired leases failed; trying again');
    }
    await sleep(MAX_HEARTBEAT_MS, signal);
  }
}
