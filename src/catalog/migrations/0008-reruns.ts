import type { Kysely } from 'kysely';

// A retried task keeps counting its attempts (each attempt's partitions are written under its
// own number, and a commit is fenced by it), so the attempts it made before the retry are kept
// apart: the limit on lost attempts counts those since the retry only.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tasks').addColumn('retried_attempts', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}
