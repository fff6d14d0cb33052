import type { Kysely } from 'kysely';

// What a running task has read and converted so far, written with each lease renewal, so a
// job's status moves while its one INDEX task of many files runs instead of jumping at its commit.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('tasks')
    .addColumn('progress_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('tasks')
    .addColumn('progress_rows', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}
