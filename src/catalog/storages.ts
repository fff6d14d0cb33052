import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { isoMicros } from '../time.js';
import type { Catalog } from './db.js';
import { isUniqueViolation } from './errors.js';
import type { StorageRow } from './schema.js';

export interface StorageFields {
  readonly name: string;
  readonly description: string | null;
  readonly settings: string;
}

async function unique<T>(name: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConflictError(`a storage named "${name}" already exists: choose another name or update the existing one`);
    throw err;
  }
}

/** The boot-time default storage's row, made by whichever process starts first with it. */
export async function ensureStorage(c: Catalog, id: string, fields: StorageFields): Promise<void> {
  const now = isoMicros();
  await c.db
    .insertInto('storages')
    .values({ id, org_id: null, ...fields, created: now, modified: now })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

export async function getStorageById(c: Catalog, id: string): Promise<StorageRow | undefined> {
  return c.db.selectFrom('storages').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Every storage rows name: the default's (org null) and every org's, for the sweeper. */
export async function listAllStorages(c: Catalog): Promise<StorageRow[]> {
  return c.db.selectFrom('storages').selectAll().orderBy('created').execute();
}

export async function listOrgStorages(c: Catalog, orgId: string): Promise<StorageRow[]> {
  return c.db.selectFrom('storages').selectAll().where('org_id', '=', orgId).orderBy('created').execute();
}

export async function getOrgStorage(c: Catalog, orgId: string, id: string): Promise<StorageRow> {
  const row = await c.db.selectFrom('storages').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError(`storage ${id} not found`);
  return row;
}

export async function createStorage(c: Catalog, orgId: string, fields: StorageFields): Promise<StorageRow> {
  const now = isoMicros();
  const row: StorageRow = { id: randomUUID(), org_id: orgId, ...fields, created: now, modified: now };
  return unique(fields.name, async () => {
    await c.db.insertInto('storages').values(row).execute();
    return row;
  });
}

export async function updateStorage(c: Catalog, current: StorageRow, fields: StorageFields): Promise<StorageRow> {
  const row = { ...current, ...fields, modified: isoMicros() };
  return unique(fields.name, async () => {
    await c.db.updateTable('storages').set(fields).set({ modified: row.modified }).where('id', '=', current.id).execute();
    return row;
  });
}

/** Whether partitions are kept in the storage: then its bucket cannot change nor the storage go. */
export async function storageHasPartitions(c: Catalog, id: string): Promise<boolean> {
  return (await c.db.selectFrom('partitions').select('id').where('storage_id', '=', id).limit(1).executeTakeFirst()) !== undefined;
}

/** Names of the org's tables whose settings.storage_map names the storage. */
export async function tablesUsingStorage(c: Catalog, orgId: string, id: string): Promise<string[]> {
  const rows = await c.db
    .selectFrom('tables')
    .select(['name', 'settings'])
    .where('org_id', '=', orgId)
    .where(sql<boolean>`settings LIKE ${`%${id}%`}`)
    .execute();
  return rows.filter((r) => (JSON.parse(r.settings) as { storage_map?: { default_storage_id?: unknown } }).storage_map?.default_storage_id === id).map((r) => r.name);
}

export async function deleteStorage(c: Catalog, row: StorageRow): Promise<void> {
  await c.db.deleteFrom('storages').where('id', '=', row.id).execute();
}

/**
 * A table's `settings.storage_map.default_storage_id`, when given, must name the default
 * storage or one of the org's: partitions written to a storage nobody can read would be lost.
 */
export async function checkStorageMap(c: Catalog, orgId: string, settings: string, defaultId: string): Promise<void> {
  const map = (JSON.parse(settings) as { storage_map?: unknown }).storage_map;
  if (map === undefined || map === null) return;
  if (typeof map !== 'object' || Array.isArray(map)) throw new ValidationError(`settings.storage_map is ${JSON.stringify(map)}: give an object such as {"default_storage_id": "<storage uuid>"}`);
  const id = (map as { default_storage_id?: unknown }).default_storage_id;
  if (id === undefined || id === null || id === defaultId) return;
  if (typeof id !== 'string') throw new ValidationError(`settings.storage_map.default_storage_id is ${JSON.stringify(id)}: give a storage uuid from GET /config/v1/orgs/${orgId}/storages/`);
  const found = await c.db.selectFrom('storages').select('id').where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst();
  if (!found) throw new ValidationError(`settings.storage_map.default_storage_id is "${id}", which is no storage of this org: use a uuid from GET /config/v1/orgs/${orgId}/storages/`);
}
