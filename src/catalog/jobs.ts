import { randomBytes, randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError } from '../errors.js';
import { isoMicros } from '../time.js';
import type { Catalog } from './db.js';
import { isUniqueViolation } from './errors.js';
import { newTask } from './tasks.js';
import { TERMINAL_JOB_STATUSES, type JobRow, type TaskFileRow, type TaskState, type TaskType } from './schema.js';

export interface NewJob {
  org_id: string;
  name: string;
  description: string | null;
  type: string;
  settings: string;
  table_id: string;
  transform_id: string;
  transform_doc: string;
  concurrency: number;
}

/**
 * A job starts as `ready` with its one LIST task. Its progress is read inside the same
 * transaction, so it shows the job as created even when a worker claims the task at once.
 */
export async function createJob(c: Catalog, fields: NewJob): Promise<{ job: JobRow; progress: JobProgress }> {
  const now = isoMicros();
  const job: JobRow = {
    ...fields,
    id: randomUUID(),
    status: 'ready',
    run_id: `jobid-${randomBytes(12).toString('hex')}`,
    errors: '[]',
    listing_done: 0,
    total_bytes: 0,
    started_at_ms: null,
    finished_at_ms: null,
    undone: null,
    created: now,
    modified: now,
  };
  let progress: JobProgress;
  try {
    progress = await c.db.transaction().execute(async (trx) => {
      await trx.insertInto('jobs').values(job).execute();
      await trx
        .insertInto('tasks')
        .values(newTask(job.id, 'LIST', 0, { files: [], bytes: 0 }, now))
        .execute();
      return jobProgress({ ...c, db: trx }, job.id);
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConflictError(`a job named "${fields.name}" already exists in this org: job names are unique; choose another`);
    throw err;
  }
  return { job, progress };
}

export async function getJob(c: Catalog, orgId: string, id: string): Promise<JobRow> {
  const job = await c.db.selectFrom('jobs').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
  if (!job) throw new NotFoundError(`batch job ${id} not found in this org`);
  return job;
}

export async function getJobById(c: Catalog, id: string): Promise<JobRow | undefined> {
  return c.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listJobs(c: Catalog, orgId: string): Promise<JobRow[]> {
  return c.db.selectFrom('jobs').selectAll().where('org_id', '=', orgId).orderBy('created').execute();
}

/** Deletes a finished job's record and history; its loaded data stays in the table. */
export async function deleteJob(c: Catalog, job: JobRow): Promise<void> {
  if (!TERMINAL_JOB_STATUSES.includes(job.status)) {
    throw new ConflictError(`batch job "${job.name}" is ${job.status}: cancel it before deleting it`);
  }
  await c.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('task_files').where('job_id', '=', job.id).execute();
    await trx.deleteFrom('tasks').where('job_id', '=', job.id).execute();
    await trx.deleteFrom('jobs').where('id', '=', job.id).execute();
  });
}

export interface JobProgress {
  /** task type → state → count, e.g. {LIST: {DONE: 1}, INDEX: {DONE: 30}}. */
  tasks: Partial<Record<TaskType, Partial<Record<TaskState, number>>>>;
  /** Input bytes of INDEX tasks that ran to an end (done or failed). */
  finishedBytes: number;
  /** Running tasks: their input bytes, and what they read and converted so far (not committed yet). */
  inFlight: { bytes: number; bytesRead: number; rowsRead: number };
  rows: { read: number; written: number; rejected: number };
  /** Rejected records kept in the quarantine (the rest were past max_quarantined_rows). */
  quarantined: number;
  bytesRead: number;
  filesFailed: number;
  /** Objects the listing skipped because the table had loaded them already (the ledger). */
  skipped: { files: number; bytes: number };
  /** Partitions INDEX tasks wrote (or, in a dry run, would write) and the time they span. */
  partitions: { count: number; minTsMs: number | null; maxTsMs: number | null };
}

export async function jobProgress(c: Catalog, jobId: string): Promise<JobProgress> {
  const byState = await c.db
    .selectFrom('tasks')
    .select(['type', 'state', (eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.sum<number>('bytes').as('bytes')])
    .where('job_id', '=', jobId)
    .groupBy(['type', 'state'])
    .execute();
  const tasks: JobProgress['tasks'] = {};
  let finishedBytes = 0;
  for (const row of byState) {
    (tasks[row.type] ??= {})[row.state] = Number(row.n);
    if (row.type === 'INDEX' && (row.state === 'DONE' || row.state === 'FAILED')) finishedBytes += Number(row.bytes ?? 0);
  }
  // Only the few running tasks, through tasks_job: summing progress over every task made the query above slower with the job's size.
  const running = await c.db
    .selectFrom('tasks')
    .select((eb) => [eb.fn.sum<number>('bytes').as('bytes'), eb.fn.sum<number>('progress_bytes').as('read'), eb.fn.sum<number>('progress_rows').as('rows')])
    .where('job_id', '=', jobId)
    .where('type', '=', 'INDEX')
    .where('state', '=', 'RUNNING')
    .executeTakeFirstOrThrow();
  const inFlight = { bytes: Number(running.bytes ?? 0), bytesRead: Number(running.read ?? 0), rowsRead: Number(running.rows ?? 0) };
  const totals = await c.db
    .selectFrom('task_files')
    .select((eb) => [
      eb.fn.sum<number>('rows_read').as('read'),
      eb.fn.sum<number>('rows_written').as('written'),
      eb.fn.sum<number>('rows_rejected').as('rejected'),
      eb.fn.sum<number>('rows_quarantined').as('quarantined'),
      eb.fn.sum<number>('bytes').as('bytes'),
      eb.fn.count<number>('error').as('failed'),
    ])
    .where('job_id', '=', jobId)
    .where('loaded_by', 'is', null)
    .executeTakeFirstOrThrow();
  const skipped = await c.db
    .selectFrom('task_files')
    .select((eb) => [eb.fn.countAll<number>().as('files'), eb.fn.sum<number>('bytes').as('bytes')])
    .where('job_id', '=', jobId)
    .where('loaded_by', 'is not', null)
    .executeTakeFirstOrThrow();
  const plan = await c.db
    .selectFrom('tasks')
    .select((eb) => [eb.fn.sum<number>('partitions').as('count'), eb.fn.min<number | null>('min_ts_ms').as('min'), eb.fn.max<number | null>('max_ts_ms').as('max')])
    .where('job_id', '=', jobId)
    .where('state', '=', 'DONE')
    .executeTakeFirstOrThrow();
  return {
    tasks,
    finishedBytes,
    inFlight,
    rows: { read: Number(totals.read ?? 0), written: Number(totals.written ?? 0), rejected: Number(totals.rejected ?? 0) },
    quarantined: Number(totals.quarantined ?? 0),
    bytesRead: Number(totals.bytes ?? 0),
    filesFailed: Number(totals.failed ?? 0),
    skipped: { files: Number(skipped.files ?? 0), bytes: Number(skipped.bytes ?? 0) },
    partitions: { count: Number(plan.count ?? 0), minTsMs: plan.min === null ? null : Number(plan.min), maxTsMs: plan.max === null ? null : Number(plan.max) },
  };
}

/** Per-file reports, in listing order; `onlyProblems` keeps files with rejects or errors. */
export async function jobFiles(c: Catalog, jobId: string, options: { onlyProblems: boolean; limit: number; offset: number }): Promise<TaskFileRow[]> {
  let query = c.db.selectFrom('task_files').innerJoin('tasks', 'tasks.id', 'task_files.task_id').selectAll('task_files').where('task_files.job_id', '=', jobId);
  if (options.onlyProblems) query = query.where((eb) => eb.or([eb('task_files.rows_rejected', '>', 0), eb('task_files.error', 'is not', null)]));
  return query.orderBy('tasks.seq').orderBy('task_files.url').limit(options.limit).offset(options.offset).execute();
}

/**
 * Runs a failed or canceled job's failed and canceled tasks again, in one transaction: they are
 * READY, their file reports and the job's errors are cleared, and the job is `running`. Tasks
 * that committed are left alone. Each retried object is read afresh: its listed version is
 * forgotten, so an object replaced since (the usual fix for a corrupt one) is loaded as it is
 * now, and checked against the version its read starts with. Answers how many tasks will run.
 */
export async function retryJob(c: Catalog, job: JobRow): Promise<number> {
  return c.db.transaction().execute(async (trx) => {
    const now = isoMicros();
    const reopened = await trx
      .updateTable('jobs')
      .set({ status: 'running', errors: '[]', finished_at_ms: null, modified: now })
      .where('id', '=', job.id)
      .where('status', 'in', ['failed', 'canceled'])
      .where('undone', 'is', null)
      .executeTakeFirst();
    if (Number(reopened.numUpdatedRows) === 0) {
      const current = await trx.selectFrom('jobs').select(['status', 'undone']).where('id', '=', job.id).executeTakeFirst();
      const status = current?.status ?? job.status;
      if (current?.undone) throw new ConflictError(`batch job "${job.name}" was undone: its loads are taken back, and it cannot run again; create a new job for its files`);
      throw new ConflictError(
        status === 'done'
          ? `batch job "${job.name}" is done: none of its tasks failed, so there is nothing to retry; create a new job to load its files again`
          : `batch job "${job.name}" is ${status}: only a failed or canceled job can be retried; wait for it to end, or cancel it first`,
      );
    }
    const tasks = await trx.selectFrom('tasks').select(['id', 'type', 'input', 'attempts']).where('job_id', '=', job.id).where('state', 'in', ['FAILED', 'CANCELED']).execute();
    if (tasks.length === 0) {
      // Thrown to roll back the job's reopening.
      throw new ConflictError(`batch job "${job.name}" is ${job.status} but none of its tasks failed or was canceled: there is nothing to retry`);
    }
    for (const task of tasks) {
      const input = (JSON.parse(task.input) as { url: string; size: number; version?: string }[]).map(({ url, size }) => ({ url, size }));
      await trx
        .updateTable('tasks')
        .set({
          state: 'READY',
          error: null,
          input: JSON.stringify(input),
          // Attempts keep counting (an attempt's files and its commit are fenced by its number); the limit counts from here.
          retried_attempts: task.attempts,
          run_after_ms: 0,
          lease_owner: null,
          lease_expires_at_ms: null,
          progress_bytes: 0,
          progress_rows: 0,
          partitions: null,
          min_ts_ms: null,
          max_ts_ms: null,
          modified: now,
        })
        .where('id', '=', task.id)
        .where('state', 'in', ['FAILED', 'CANCELED'])
        .execute();
    }
    const ids = tasks.map((t) => t.id);
    for (let i = 0; i < ids.length; i += 500)
      await trx
        .deleteFrom('task_files')
        .where('task_id', 'in', ids.slice(i, i + 500))
        .execute();
    return tasks.length;
  });
}

/** What an undo took back. */
export interface Undone {
  readonly at: string;
  readonly partitions: number;
  readonly rows: number;
}

/**
 * Takes back everything a finished job committed, in one transaction: its partitions leave
 * every query at once (a query reads the partition list in one statement, so it sees the table
 * before or after, never between), the tables' counts drop, its ledger entries go (its objects
 * can be loaded again), and the job is marked undone. The files stay for queries that started
 * before; the sweeper removes them after its grace period (see forgetUndonePartitions).
 */
export async function undoJob(c: Catalog, job: JobRow): Promise<Undone> {
  return c.db.transaction().execute(async (trx) => {
    const nowMs = Date.now();
    const marked = await trx.updateTable('jobs').set({ undone: '{}', modified: isoMicros() }).where('id', '=', job.id).where('status', 'in', TERMINAL_JOB_STATUSES).where('undone', 'is', null).executeTakeFirst();
    if (Number(marked.numUpdatedRows) === 0) {
      const current = await trx.selectFrom('jobs').select(['status', 'undone']).where('id', '=', job.id).executeTakeFirst();
      if (current?.undone) throw new ConflictError(`batch job "${job.name}" was already undone`);
      throw new ConflictError(`batch job "${job.name}" is ${current?.status ?? job.status}: only a finished job can be undone; cancel it first, then undo it`);
    }
    const perTable = await trx
      .selectFrom('partitions')
      .select(['table_id', (eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.sum<number>('rows').as('rows')])
      .where('job_id', '=', job.id)
      .where('undone_at_ms', 'is', null)
      .groupBy('table_id')
      .execute();
    await trx.updateTable('partitions').set({ undone_at_ms: nowMs }).where('job_id', '=', job.id).where('undone_at_ms', 'is', null).execute();
    await trx.updateTable('quarantine').set({ undone_at_ms: nowMs }).where('job_id', '=', job.id).where('undone_at_ms', 'is', null).execute();
    for (const table of perTable) {
      await trx
        .updateTable('tables')
        .set((eb) => ({ partition_count: eb('partition_count', '-', Number(table.n)) }))
        .where('id', '=', table.table_id)
        .execute();
    }
    await trx.deleteFrom('ledger').where('job_id', '=', job.id).execute();
    const undone: Undone = {
      at: new Date(nowMs).toISOString(),
      partitions: perTable.reduce((sum, t) => sum + Number(t.n), 0),
      rows: perTable.reduce((sum, t) => sum + Number(t.rows ?? 0), 0),
    };
    await trx
      .updateTable('jobs')
      .set({ undone: JSON.stringify(undone) })
      .where('id', '=', job.id)
      .execute();
    return undone;
  });
}
