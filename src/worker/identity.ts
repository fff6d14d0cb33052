import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

const ID_FILE = 'worker-id';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The identity of the worker that uses this data dir, kept in the data dir itself: a restart
 * (even with a new hostname and pid) is the same worker, and two workers sharing a catalog,
 * each with its own data dir, are told apart. Its leases' owners start with it.
 */
export async function dataDirIdentity(dataDir: string): Promise<string> {
  const file = path.join(dataDir, ID_FILE);
  const existing = await readIdentity(file);
  if (existing) return existing;
  try {
    // `wx`: when two processes create it at once, both end up with the one written first.
    await writeFile(file, `${randomUUID()}\n`, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const created = await readIdentity(file);
  if (created) return created;
  // Left empty or damaged by a crash while it was written: no lease can name it, so a new one loses nothing.
  const id = randomUUID();
  await writeFile(file, `${id}\n`);
  return id;
}

async function readIdentity(file: string): Promise<string | undefined> {
  try {
    const text = (await readFile(file, 'utf8')).trim();
    return UUID.test(text) ? text : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A lease owner: the data dir's worker, then this incarnation of it. */
export const leaseOwner = (identity: string, incarnation: string): string => `${identity}/${incarnation}`;
/** What every lease owner of the data dir's worker starts with, whichever incarnation took it. */
export const ownerPrefix = (identity: string): string => `${identity}/`;
