import type { CreateTableBuilder, Kysely } from 'kysely';

function stamped<T extends string, C extends string>(table: CreateTableBuilder<T, C>) {
  return table.addColumn('created', 'text', (c) => c.notNull()).addColumn('modified', 'text', (c) => c.notNull());
}

// Types are the portable subset (text, integer, bigint) so one migration serves SQLite and PostgreSQL.
export async function up(db: Kysely<unknown>): Promise<void> {
  await stamped(
    db.schema
      .createTable('orgs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('type', 'text', (c) => c.notNull()),
  ).execute();

  await stamped(
    db.schema
      .createTable('users')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
      .addColumn('email', 'text', (c) => c.notNull().unique())
      .addColumn('password_hash', 'text', (c) => c.notNull()),
  ).execute();

  await db.schema
    .createTable('sessions')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('expires_at_ms', 'bigint', (c) => c.notNull())
    .execute();

  await stamped(
    db.schema
      .createTable('projects')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('settings', 'text', (c) => c.notNull())
      .addUniqueConstraint('projects_org_name', ['org_id', 'name']),
  ).execute();

  await stamped(
    db.schema
      .createTable('tables')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
      .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('settings', 'text', (c) => c.notNull())
      .addUniqueConstraint('tables_project_name', ['project_id', 'name']),
  ).execute();

  await stamped(
    db.schema
      .createTable('transforms')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('table_id', 'text', (c) => c.notNull().references('tables.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('is_default', 'integer', (c) => c.notNull())
      .addColumn('settings', 'text', (c) => c.notNull())
      .addUniqueConstraint('transforms_table_name', ['table_id', 'name']),
  ).execute();

  await stamped(
    db.schema
      .createTable('jobs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('settings', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      // No foreign keys to tables/transforms: a job's history outlives a deleted transform.
      .addColumn('table_id', 'text', (c) => c.notNull())
      .addColumn('transform_id', 'text', (c) => c.notNull())
      .addColumn('transform_doc', 'text', (c) => c.notNull())
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('errors', 'text', (c) => c.notNull())
      .addColumn('concurrency', 'integer', (c) => c.notNull())
      .addColumn('listing_done', 'integer', (c) => c.notNull())
      .addColumn('total_bytes', 'bigint', (c) => c.notNull())
      .addColumn('started_at_ms', 'bigint')
      .addColumn('finished_at_ms', 'bigint')
      .addUniqueConstraint('jobs_org_name', ['org_id', 'name']),
  ).execute();

  await stamped(
    db.schema
      .createTable('tasks')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('bytes', 'bigint', (c) => c.notNull())
      .addColumn('input', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('run_after_ms', 'bigint', (c) => c.notNull())
      .addColumn('lease_owner', 'text')
      .addColumn('lease_expires_at_ms', 'bigint')
      .addColumn('error', 'text'),
  ).execute();
  await db.schema.createIndex('tasks_claim').on('tasks').columns(['state', 'run_after_ms']).execute();
  await db.schema.createIndex('tasks_job').on('tasks').columns(['job_id', 'type', 'state']).execute();

  await db.schema
    .createTable('task_files')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
    .addColumn('task_id', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('rows_read', 'bigint', (c) => c.notNull())
    .addColumn('rows_written', 'bigint', (c) => c.notNull())
    .addColumn('rows_rejected', 'bigint', (c) => c.notNull())
    .addColumn('rejects', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .execute();
  await db.schema.createIndex('task_files_job').on('task_files').columns(['job_id', 'url']).execute();

  await db.schema
    .createTable('partitions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('table_id', 'text', (c) => c.notNull())
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('task_id', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull().unique())
    .addColumn('min_ts_ms', 'bigint', (c) => c.notNull())
    .addColumn('max_ts_ms', 'bigint', (c) => c.notNull())
    .addColumn('rows', 'bigint', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('created', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('partitions_table_time').on('partitions').columns(['table_id', 'min_ts_ms', 'max_ts_ms']).execute();
}
