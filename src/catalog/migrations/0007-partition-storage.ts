import type { Kysely } from 'kysely';

// Partitions may live in object storage, written by one machine and read by another: each row
// names its storage. NULL, as every existing row has, is the local default (`<data dir>/partitions`).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('partitions').addColumn('storage_url', 'text').execute();
}
