import { expireUnrenewedLeases, leasedByOthers, leasesOfEarlierRuns, reapTasks, type Lease } from '../catalog/tasks.js';
import { sleep } from '../time.js';
import { MAX_HEARTBEAT_MS, type WorkerContext } from './context.js';

/** Renewals a live worker would have made while we watch its leases: missing them all means it is gone. */
const BEATS_WATCHED = 3;

/**
 * On start, takes back the tasks an earlier run of this data dir's worker still holds (it was
 * killed): they run again now, not when their leases run out. A lease renewed while we watch
 * belongs to a live process (another one started on the same data dir) and is left alone, as
 * are other workers' leases, which are only logged, so a wait has a reason in the log.
 */
export async function takeBackEarlierRun(ctx: WorkerContext, lease: Lease, prefix: string, signal: AbortSignal, onTakenBack: () => void): Promise<void> {
  const { catalog, log } = ctx;
  const held = await leasesOfEarlierRuns(catalog, prefix, lease.owner);
  if (held.length > 0) {
    const watchMs = BEATS_WATCHED * MAX_HEARTBEAT_MS;
    log.info(
      { tasks: held.length, owners: [...new Set(held.map((h) => h.owner))] },
      `${held.length} tasks are leased to an earlier run of this data dir's worker; taking them back unless their leases are renewed within ${watchMs / 1000} s`,
    );
    await sleep(watchMs, signal);
    if (signal.aborted) return;
    const taken = await expireUnrenewedLeases(catalog, held);
    log.info({ tasks: taken, renewed: held.length - taken }, `took back ${taken} tasks from an earlier run of this data dir's worker`);
    if (taken > 0) {
      // READY now rather than at the reaper's next turn (if another process's reaper runs, it does the same).
      await reapTasks(catalog);
      onTakenBack();
    }
  }
  const others = await leasedByOthers(catalog, lease.owner);
  if (others.tasks > 0) {
    log.info({ tasks: others.tasks, until: new Date(others.untilMs!).toISOString() }, `${others.tasks} tasks are leased by other workers until ${new Date(others.untilMs!).toISOString()}`);
  }
}
