import type { Kysely } from 'kysely';

// Every rejected record is kept (up to a job's max_quarantined_rows) in Parquet files beside the
// table's partitions, one per chunk of a task, written by the same attempt and committed with its
// partitions: a row per file here, undone and swept like a partition. Each file report counts
// the rejects of its file that were kept.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('quarantine')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('table_id', 'text', (c) => c.notNull())
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('task_id', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('storage_id', 'text')
    .addColumn('rows', 'bigint', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('created', 'text', (c) => c.notNull())
    .addColumn('undone_at_ms', 'bigint')
    .execute();
  await db.schema.createIndex('quarantine_table').on('quarantine').column('table_id').execute();
  await db.schema.createIndex('quarantine_job').on('quarantine').column('job_id').execute();
  await db.schema
    .alterTable('task_files')
    .addColumn('rows_quarantined', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}
