import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { committedAttempts, forgetUndonePartitions, runningAttempts } from '../catalog/partitions.js';
import { errorMessage } from '../errors.js';
import { engineScratchPid, scratchRoot, type WorkerContext } from './context.js';

const isAttemptDir = (name: string) => /^[0-9a-f-]{36}-\d+$/.test(name);

async function dirs(parent: string): Promise<string[]> {
  try {
    return (await readdir(parent, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * Removes partition files of attempts that never committed (killed workers, lost leases), as
 * the catalog and the storages' own listings tell them, never one machine's view: any worker
 * may collect any worker's leftovers. The order is what makes it safe: an attempt listed has
 * already been claimed; if it is not running when read next, it either committed already (and
 * the committed attempts, read last, show it) or never will. An attempt whose newest file is
 * younger than the grace period is left alone: a worker that lost its lease may still be
 * uploading files it will throw away, and would leave some behind.
 */
export async function sweepPartitions(ctx: WorkerContext, graceMs: number, nowMs = Date.now()): Promise<number> {
  const stored = await ctx.storage.listAttempts((storageId, err) => ctx.log.warn({ storage: storageId, err: errorMessage(err) }, 'listing a storage for the sweep failed; the next sweep retries'));
  const running = await runningAttempts(ctx.catalog);
  await forgetUndonePartitions(ctx.catalog, nowMs - graceMs);
  const committed = await committedAttempts(ctx.catalog);
  let removed = 0;
  for (const attempt of stored) {
    if (!isAttemptDir(attempt.attempt) || running.has(attempt.attempt) || committed.has(`${attempt.tableId}/${attempt.attempt}`)) continue;
    if (nowMs - (await attempt.modifiedMs()) < graceMs) continue;
    await ctx.storage.removeAttempt(attempt);
    removed++;
  }
  if (removed > 0) ctx.log.info({ removed }, 'removed partition files of task attempts that never committed');
  return removed;
}

/**
 * At start: partition files of attempts that never committed (past the grace period), and this
 * machine's scratch directories, unless a running task attempt may still be using them, or a
 * worker process that runs still spills to them.
 * Safe because a partition becomes visible only by its catalog row.
 */
export async function sweepOrphans(ctx: WorkerContext): Promise<number> {
  let removed = await sweepPartitions(ctx, ctx.config.sweepGraceSeconds * 1000).catch((err: unknown) => {
    ctx.log.warn({ err: errorMessage(err) }, 'sweeping partition storage failed; the next sweep retries');
    return 0;
  });
  const running = await runningAttempts(ctx.catalog);
  for (const name of await dirs(scratchRoot(ctx.config))) {
    const engine = engineScratchPid(name);
    // A DuckDB engine's spill folder is left behind by a worker process that died: each start makes its own.
    const orphan = engine === undefined ? isAttemptDir(name) && !running.has(name) : engine !== process.pid && !isAlive(engine);
    if (!orphan) continue;
    await rm(path.join(scratchRoot(ctx.config), name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/** Whether a process of this PID runs (one of another user's counts: it cannot be signalled, but is there). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sweeps partition storage now and then while the process runs; answers a function that stops it. */
export function startPartitionSweeper(ctx: WorkerContext): () => void {
  const graceMs = ctx.config.sweepGraceSeconds * 1000;
  // Often enough that leftovers go soon after their grace period, rarely enough that listing a large bucket costs little.
  const everyMs = Math.max(60_000, graceMs / 2);
  let sweeping = false;
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    sweepPartitions(ctx, graceMs)
      .catch((err: unknown) => ctx.log.warn({ err: errorMessage(err) }, 'sweeping partition storage failed; the next sweep retries'))
      .finally(() => (sweeping = false));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
