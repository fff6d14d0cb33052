import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { allPartitionPaths, runningAttempts } from '../catalog/partitions.js';
import { partitionsRoot, scratchRoot, type WorkerContext } from './context.js';

const isAttemptDir = (name: string) => /^[0-9a-f-]{36}-\d+$/.test(name);

async function dirs(parent: string): Promise<string[]> {
  try {
    return (await readdir(parent, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * Removes what crashed attempts left behind: partition directories no committed partition
 * points into, and scratch directories, unless a running task attempt may still be using them.
 * Safe because a partition becomes visible only by its catalog row.
 */
export async function sweepOrphans(ctx: WorkerContext): Promise<number> {
  const committed = await allPartitionPaths(ctx.catalog);
  const committedDirs = new Set([...committed].map((p) => p.split(path.sep).slice(0, 2).join(path.sep)));
  const running = await runningAttempts(ctx.catalog);
  let removed = 0;
  for (const table of await dirs(partitionsRoot(ctx.config))) {
    for (const attempt of await dirs(path.join(partitionsRoot(ctx.config), table))) {
      if (!isAttemptDir(attempt) || running.has(attempt) || committedDirs.has(path.join(table, attempt))) continue;
      await rm(path.join(partitionsRoot(ctx.config), table, attempt), { recursive: true, force: true });
      removed++;
    }
  }
  for (const attempt of await dirs(scratchRoot(ctx.config))) {
    if (!isAttemptDir(attempt) || running.has(attempt)) continue;
    await rm(path.join(scratchRoot(ctx.config), attempt), { recursive: true, force: true });
    removed++;
  }
  if (removed > 0) ctx.log.info({ removed }, 'removed files left by interrupted task attempts');
  return removed;
}
