import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // A retried task keeps counting its attempts (each attempt's partitions are written under its
  // own number, and a commit is fenced by it), so the attempts it made before the retry are kept
  // apart: the limit on lost attempts counts those since the retry only.
  await db.schema
    .alterTable('tasks')
    .addColumn('retried_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // Every object each table loaded, by URL and version: a new job skips what is already there.
  // No foreign key to jobs: the ledger outlives a deleted job's record, as its rows do.
  await db.schema
    .createTable('ledger')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('table_id', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('version', 'text')
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('task_id', 'text', (c) => c.notNull())
    .addColumn('rows_written', 'bigint', (c) => c.notNull())
    .addColumn('created', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('ledger_table_url').on('ledger').columns(['table_id', 'url']).execute();
  await db.schema.createIndex('ledger_job').on('ledger').column('job_id').execute();
  // The version each file was read at (for the ledger), and for a file a job skipped, the job that had loaded it.
  await db.schema.alterTable('task_files').addColumn('version', 'text').execute();
  await db.schema.alterTable('task_files').addColumn('loaded_by', 'text').execute();
  // Undo: a job's partitions leave queries in one commit (undone_at_ms set), and their rows and
  // files go once no query that started before could still read them (the sweeper's grace).
  await db.schema.alterTable('partitions').addColumn('undone_at_ms', 'bigint').execute();
  await db.schema.createIndex('partitions_job').on('partitions').column('job_id').execute();
  await db.schema.alterTable('jobs').addColumn('undone', 'text').execute();
}
