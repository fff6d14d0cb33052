import type { Kysely } from 'kysely';

// Which columns (names and types) a partition's file holds, as a short key: a query can read
// files sharing one key without unifying their schemas by name, which costs it measurably.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('partitions').addColumn('schema_key', 'text').execute();
}
