import type { Kysely } from 'kysely';

// A LIST task commits its INDEX tasks as it lists: where it got to, and how many objects it kept
// up to there (for max_files), are kept with it, so a listing whose worker died resumes there.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('tasks').addColumn('list_after', 'text').execute();
  await db.schema
    .alterTable('tasks')
    .addColumn('list_kept', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}
