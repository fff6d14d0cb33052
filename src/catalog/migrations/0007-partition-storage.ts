import type { Kysely } from 'kysely';

// Partitions may live in object storage, written by one machine and read by another: each row
// names its storage. NULL, as every existing row has, is the local default (`<data dir>/partitions`).
// Storages are the org's buckets (the Storages API), and the boot-time default one when it is S3 (org NULL).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('storages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.references('orgs.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('settings', 'text', (c) => c.notNull())
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .addUniqueConstraint('storages_org_name', ['org_id', 'name'])
    .execute();
  await db.schema.alterTable('partitions').addColumn('storage_id', 'text').execute();
}
