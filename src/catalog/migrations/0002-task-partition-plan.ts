import type { Kysely } from 'kysely';

// What each INDEX task wrote, or for a dry run would have written: partition count and time range.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tasks').addColumn('partitions', 'integer').execute();
  await db.schema.alterTable('tasks').addColumn('min_ts_ms', 'bigint').execute();
  await db.schema.alterTable('tasks').addColumn('max_ts_ms', 'bigint').execute();
}
