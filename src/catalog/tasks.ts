import { randomUUID } from 'node:crypto';
import { sql, type Expression, type ExpressionBuilder, type Transaction } from 'kysely';
import { LeaseLostError, RejectBudgetError } from '../errors.js';
import { hasRejectBudget, overRejectBudget, type RejectBudget } from '../jobs/budget.js';
import { isoMicros } from '../time.js';
import { dbNowMs, dbNowPlusMs } from './clock.js';
import { recordLoaded } from './ledger.js';
import type { Catalog, Dialect } from './db.js';
import type { CatalogSchema, JobStatus, NewPartition, NewQuarantineFile, NewTask, NewTaskFile, TaskRow, TaskType } from './schema.js';

type Trx = Transaction<CatalogSchema>;

/** A task whose lease expired this many times (its worker died or hung) is failed, not retried again. */
export const MAX_TASK_ATTEMPTS = 3;

export interface Lease {
  readonly owner: string;
  readonly durationMs: number;
}

/** What a running task has done so far: kept by the task as it works, sent with each lease renewal. */
export interface TaskProgress {
  /** Source bytes of the objects read so far. */
  bytesRead: number;
  /** Rows converted so far (written or rejected; committed with the task). */
  rowsRead: number;
}

/** How many times one claim looks for a job before it gives up until the next poll (each lost only to a racing claimer). */
const CLAIM_TRIES = 3;

/**
 * Claims the next runnable task: READY and due by the catalog's clock. LIST tasks first, then
 * INDEX tasks of older jobs first; a job never has more than input_concurrency INDEX tasks
 * RUNNING, across every process. Tasks whose leases ran out are made READY by the reaper
 * (reapTasks), not here: a claim looks at each active job's first due task through an index.
 */
export async function claimTask(catalog: Catalog, lease: Lease): Promise<TaskRow | undefined> {
  for (let tries = 0; tries < CLAIM_TRIES; tries++) {
    const claimed = await catalog.db.transaction().execute(async (trx) => {
      // A claim lost to a database crash leaves its task READY and its worker's next renewal
      // failing, which stops it: nothing is lost, so the claim need not wait for the WAL to reach the disk.
      if (catalog.dialect === 'postgres') await sql`SET LOCAL synchronous_commit TO off`.execute(trx);
      const job = await lockNextJob(trx, catalog.dialect);
      return job && claimInJob(trx, catalog.dialect, job, lease);
    });
    if (claimed !== 'none') return claimed;
  }
  return undefined;
}

/**
 * The job whose task runs next: among active jobs, those whose first due READY task (by seq;
 * the LIST task is seq 0) is a LIST task, or an INDEX task with room under input_concurrency;
 * LIST first, then the oldest job. One index probe and one small count per active job.
 * Exported for bench/claim.ts, which times it.
 */
export function nextJobWithWork(dialect: Dialect) {
  const now = dbNowMs(dialect);
  return sql<string>`(
    SELECT c.job_id FROM (
      SELECT j.id AS job_id, j.created, j.concurrency,
             (SELECT t.type FROM tasks t WHERE t.job_id = j.id AND t.state = 'READY' AND t.run_after_ms <= ${now} ORDER BY t.seq LIMIT 1) AS next_type
      FROM jobs j WHERE j.status IN ('ready', 'running')
    ) c
    WHERE c.next_type = 'LIST'
       OR (c.next_type = 'INDEX' AND (SELECT count(*) FROM tasks r WHERE r.job_id = c.job_id AND r.type = 'INDEX' AND r.state = 'RUNNING') < c.concurrency)
    ORDER BY CASE WHEN c.next_type = 'LIST' THEN 0 ELSE 1 END, c.created
    LIMIT 1)`;
}

type LockedJob = { id: string; concurrency: number; status: JobStatus };

/**
 * Chooses the next job and takes its row for the rest of the transaction. Every claim of a job
 * takes its row first, so claims of one job run one after the other and each sees the ones
 * before it: input_concurrency holds across processes. Undefined when no job has work.
 */
async function lockNextJob(trx: Trx, dialect: Dialect): Promise<LockedJob | undefined> {
  if (dialect === 'postgres') {
    return trx.selectFrom('jobs').select(['id', 'concurrency', 'status']).where('id', '=', nextJobWithWork(dialect)).where('status', 'in', ['ready', 'running']).forUpdate().executeTakeFirst();
  }
  // SQLite locks the whole file, and only a write takes the lock at once (a read first could not upgrade past another process's commit).
  return trx
    .updateTable('jobs')
    .set((eb) => ({ concurrency: eb.ref('concurrency') }))
    .where('id', '=', nextJobWithWork(dialect))
    .where('status', 'in', ['ready', 'running'])
    .returning(['id', 'concurrency', 'status'])
    .executeTakeFirst();
}

/** Claims the locked job's first due READY task in one statement, if it is a LIST task or the job has room; 'none' if not. */
async function claimInJob(trx: Trx, dialect: Dialect, job: LockedJob, lease: Lease): Promise<TaskRow | 'none'> {
  const claimed = await trx
    .updateTable('tasks')
    .set((eb) => ({
      state: 'RUNNING',
      lease_owner: lease.owner,
      lease_expires_at_ms: dbNowPlusMs(dialect, lease.durationMs),
      attempts: eb('attempts', '+', 1),
      progress_bytes: 0,
      progress_rows: 0,
      modified: isoMicros(),
    }))
    .where('id', '=', (eb) => eb.selectFrom('tasks as t').select('t.id').where('t.job_id', '=', job.id).where('t.state', '=', 'READY').where('t.run_after_ms', '<=', dbNowMs(dialect)).orderBy('t.seq').limit(1))
    .where('state', '=', 'READY')
    .where((eb) =>
      eb.or([
        eb('type', '=', 'LIST'),
        eb(
          eb
            .selectFrom('tasks as r')
            .select((e) => e.fn.countAll<number>().as('n'))
            .where('r.job_id', '=', job.id)
            .where('r.type', '=', 'INDEX')
            .where('r.state', '=', 'RUNNING'),
          '<',
          job.concurrency,
        ),
      ]),
    )
    .returningAll()
    .executeTakeFirst();
  if (!claimed) return 'none';
  if (job.status === 'ready') {
    await trx.updateTable('jobs').set({ status: 'running', started_at_ms: Date.now(), modified: isoMicros() }).where('id', '=', job.id).execute();
  }
  return claimed;
}

/** What one run of the reaper did; undefined when another process's reaper was running. */
export interface Reaped {
  /** Tasks whose workers kept dying on them: failed with a reason. */
  readonly failed: number;
  /** Tasks whose leases ran out: READY again for any worker. */
  readonly freed: number;
}

/** Names the reaper's PostgreSQL advisory lock, with the schema: catalogs in other schemas reap on their own. */
const REAPER_LOCK = 0x1e7e7;

/**
 * Fails tasks whose leases ran out too often and makes the others whose leases ran out READY,
 * by the catalog's clock. At most one runs at a time across processes: PostgreSQL's advisory
 * lock, SQLite's single writer.
 */
export async function reapTasks(catalog: Catalog): Promise<Reaped | undefined> {
  const { dialect } = catalog;
  return catalog.db.transaction().execute(async (trx) => {
    if (dialect === 'postgres') {
      const { rows } = await sql<{ locked: boolean }>`SELECT pg_try_advisory_xact_lock(${REAPER_LOCK}, hashtext(current_schema())) AS locked`.execute(trx);
      if (!rows[0]?.locked) return undefined;
    }
    const error = `worker lost the task ${MAX_TASK_ATTEMPTS} times (crash or timeout)`;
    const exhausted = await trx
      .updateTable('tasks')
      .set({ state: 'FAILED', error, lease_expires_at_ms: null, modified: isoMicros() })
      .where('state', '=', 'RUNNING')
      .where('lease_expires_at_ms', '<', dbNowMs(dialect))
      .where((eb) => eb(eb('attempts', '-', eb.ref('retried_attempts')), '>=', MAX_TASK_ATTEMPTS))
      .returning(['id', 'job_id', 'type'])
      .execute();
    for (const task of exhausted) {
      await appendJobError(trx, task.job_id, `${task.type} task ${task.id}: ${error}`);
      await endAfterFailedTask(trx, dialect, task);
    }
    const freed = await trx
      .updateTable('tasks')
      .set({ state: 'READY', lease_owner: null, lease_expires_at_ms: null, run_after_ms: 0, modified: isoMicros() })
      .where('state', '=', 'RUNNING')
      .where('lease_expires_at_ms', '<', dbNowMs(dialect))
      .executeTakeFirst();
    return { failed: exhausted.length, freed: Number(freed.numUpdatedRows) };
  });
}

/**
 * Extends the lease, and records the task's progress in the same UPDATE. False when the task is
 * no longer ours to run (canceled, taken after expiry, or its lease ran out: a worker paused past
 * its lease may not carry on just because the reaper has not freed the task yet).
 */
export async function renewLease(catalog: Catalog, task: TaskRow, lease: Lease, progress?: TaskProgress): Promise<boolean> {
  const result = await catalog.db
    .updateTable('tasks')
    .set({ lease_expires_at_ms: dbNowPlusMs(catalog.dialect, lease.durationMs), ...(progress ? { progress_bytes: progress.bytesRead, progress_rows: progress.rowsRead } : {}) })
    .where(leaseHeld(catalog.dialect, task, lease.owner))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** A task leased to some incarnation of one worker, with its lease's expiry as last renewed. */
export interface HeldLease {
  readonly id: string;
  readonly owner: string;
  readonly expiresAtMs: number;
}

/** RUNNING tasks whose lease owner starts with `prefix` (an earlier run of one data dir's worker) but is not `owner`. */
export async function leasesOfEarlierRuns(catalog: Catalog, prefix: string, owner: string): Promise<HeldLease[]> {
  const rows = await catalog.db
    .selectFrom('tasks')
    .select(['id', 'lease_owner', 'lease_expires_at_ms'])
    .where('state', '=', 'RUNNING')
    .where('lease_owner', 'like', `${prefix}%`)
    .where('lease_owner', '<>', owner)
    .execute();
  return rows.map((r) => ({ id: r.id, owner: r.lease_owner!, expiresAtMs: Number(r.lease_expires_at_ms) }));
}

/**
 * Ends the leases that were not renewed since they were seen: their worker is gone, so the
 * tasks are runnable now instead of when the leases run out. A lease that moved is left alone.
 */
export async function expireUnrenewedLeases(catalog: Catalog, seen: readonly HeldLease[]): Promise<number> {
  let expired = 0;
  for (const lease of seen) {
    const result = await catalog.db
      .updateTable('tasks')
      .set({ lease_expires_at_ms: 0 })
      .where('id', '=', lease.id)
      .where('state', '=', 'RUNNING')
      .where('lease_owner', '=', lease.owner)
      .where('lease_expires_at_ms', '=', lease.expiresAtMs)
      .executeTakeFirst();
    expired += Number(result.numUpdatedRows);
  }
  return expired;
}

/** Live leases held by owners other than `owner`: how many, and when the last of them runs out. */
export async function leasedByOthers(catalog: Catalog, owner: string): Promise<{ tasks: number; untilMs: number | null }> {
  const row = await catalog.db
    .selectFrom('tasks')
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.max<number | null>('lease_expires_at_ms').as('until')])
    .where('state', '=', 'RUNNING')
    .where('lease_owner', '<>', owner)
    .where('lease_expires_at_ms', '>=', dbNowMs(catalog.dialect))
    .executeTakeFirstOrThrow();
  return { tasks: Number(row.n), untilMs: row.until === null ? null : Number(row.until) };
}

/** The task is RUNNING under this very lease (owner and attempt), and the lease has not run out by the catalog's clock. */
function leaseHeld(dialect: Dialect, task: TaskRow, owner: string) {
  return (eb: ExpressionBuilder<CatalogSchema, 'tasks'>) =>
    eb.and([eb('id', '=', task.id), eb('state', '=', 'RUNNING'), eb('lease_owner', '=', owner), eb('attempts', '=', task.attempts), eb('lease_expires_at_ms', '>=', dbNowMs(dialect))]);
}

/**
 * Moves our RUNNING task to a new state; throws LeaseLostError (rolling back the caller's
 * transaction) if it is no longer ours, or its lease ran out by the catalog's clock: the lease
 * is the whole promise, whether or not the reaper or another worker has acted on it yet.
 */
async function fencedFinish(
  trx: Trx,
  dialect: Dialect,
  task: TaskRow,
  owner: string,
  state: 'DONE' | 'FAILED' | 'READY',
  extra: { error?: string; run_after_ms?: Expression<number>; partitions?: number; min_ts_ms?: number | null; max_ts_ms?: number | null } = {},
) {
  const result = await trx
    .updateTable('tasks')
    .set({ state, ...extra, lease_owner: state === 'READY' ? null : owner, lease_expires_at_ms: null, modified: isoMicros() })
    .where(leaseHeld(dialect, task, owner))
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) {
    throw new LeaseLostError(`task ${task.id} is no longer held by this worker (canceled, or its lease ran out by the catalog's clock and the task is another worker's to run)`);
  }
}

/** A READY task row: the LIST task (seq 0, no input) or an INDEX task over its files. */
export function newTask(jobId: string, type: TaskType, seq: number, planned: PlannedIndexTask, now: string): NewTask {
  return {
    id: randomUUID(),
    job_id: jobId,
    type,
    state: 'READY',
    seq,
    bytes: planned.bytes,
    input: JSON.stringify(planned.files),
    attempts: 0,
    run_after_ms: 0,
    lease_owner: null,
    lease_expires_at_ms: null,
    error: null,
    created: now,
    modified: now,
  };
}

export interface PlannedIndexTask {
  /** `version`: what the source said the object was when listed, checked when it is read. */
  readonly files: readonly { url: string; size: number; version?: string }[];
  readonly bytes: number;
}

/** An object the listing found already loaded into the table, with the job that loaded it. */
export interface SkippedObject {
  readonly url: string;
  readonly size: number;
  readonly version?: string;
  readonly loadedBy: string;
}

/**
 * Reports objects the listing skipped as files of the LIST task. A resumed listing meets again
 * the ones after its resume point: their earlier rows are replaced, not doubled.
 */
async function recordSkipped(trx: Trx, task: TaskRow, skipped: readonly SkippedObject[]): Promise<void> {
  for (let i = 0; i < skipped.length; i += 300) {
    const batch = skipped.slice(i, i + 300);
    await trx
      .deleteFrom('task_files')
      .where('task_id', '=', task.id)
      .where(
        'url',
        'in',
        batch.map((o) => o.url),
      )
      .execute();
    await trx
      .insertInto('task_files')
      .values(
        batch.map((o) => ({
          id: randomUUID(),
          job_id: task.job_id,
          task_id: task.id,
          url: o.url,
          bytes: o.size,
          rows_read: 0,
          rows_written: 0,
          rows_rejected: 0,
          rejects: '[]',
          error: null,
          version: o.version ?? null,
          loaded_by: o.loadedBy,
        })),
      )
      .execute();
  }
}

/** A part of a listing: INDEX tasks closed so far, and where the listing may resume after them. */
export interface ListedPart {
  readonly tasks: readonly PlannedIndexTask[];
  /** The URL of the last listed object that is in these (or earlier) tasks, or was filtered out. */
  readonly after: string | undefined;
  /** Objects kept up to `after`, for max_files. */
  readonly kept: number;
  /** Objects the table had loaded already, skipped since the last part. */
  readonly skipped: readonly SkippedObject[];
}

/** Adds INDEX tasks after the job's last one, and their bytes to the job's total. */
async function addIndexTasks(trx: Trx, jobId: string, planned: readonly PlannedIndexTask[], now: string): Promise<void> {
  if (planned.length === 0) return;
  const last = await trx
    .selectFrom('tasks')
    .select((eb) => eb.fn.max<number | null>('seq').as('seq'))
    .where('job_id', '=', jobId)
    .executeTakeFirst();
  const first = Number(last?.seq ?? 0) + 1;
  const rows = planned.map((p, i) => newTask(jobId, 'INDEX', first + i, p, now));
  // Chunks keep each INSERT under SQLite's bound-parameter limit.
  for (let i = 0; i < rows.length; i += 500)
    await trx
      .insertInto('tasks')
      .values(rows.slice(i, i + 500))
      .execute();
  const bytes = planned.reduce((sum, p) => sum + p.bytes, 0);
  await trx
    .updateTable('jobs')
    .set((eb) => ({ total_bytes: eb('total_bytes', '+', bytes), modified: now }))
    .where('id', '=', jobId)
    .execute();
}

/**
 * Commits part of a listing that goes on: its INDEX tasks become runnable at once, and the LIST
 * task keeps where it got to, in one transaction under its lease. A listing resumed by another
 * worker starts there, so no object is lost or given twice.
 */
export async function commitListedPart(catalog: Catalog, task: TaskRow, owner: string, part: ListedPart): Promise<void> {
  await catalog.db.transaction().execute(async (trx) => {
    const result = await trx
      .updateTable('tasks')
      .set({ list_after: part.after ?? null, list_kept: part.kept, modified: isoMicros() })
      .where(leaseHeld(catalog.dialect, task, owner))
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) {
      throw new LeaseLostError(`task ${task.id} is no longer held by this worker (canceled, or its lease ran out by the catalog's clock and the task is another worker's to run)`);
    }
    await addIndexTasks(trx, task.job_id, part.tasks, isoMicros());
    await recordSkipped(trx, task, part.skipped);
  });
}

/**
 * Commits the end of a listing: its last INDEX tasks appear, the objects it skipped are reported
 * (as files of the LIST task), and the LIST task is done, in one transaction.
 */
export async function completeListTask(catalog: Catalog, task: TaskRow, owner: string, planned: readonly PlannedIndexTask[], skipped: readonly SkippedObject[] = []): Promise<void> {
  await catalog.db.transaction().execute(async (trx) => {
    await fencedFinish(trx, catalog.dialect, task, owner, 'DONE');
    const now = isoMicros();
    await recordSkipped(trx, task, skipped);
    await addIndexTasks(trx, task.job_id, planned, now);
    await trx.updateTable('jobs').set({ listing_done: 1, modified: now }).where('id', '=', task.job_id).execute();
    await finishJobIfComplete(trx, catalog.dialect, task.job_id);
  });
}

/** Commits an INDEX task: its partitions become visible together with its file accounting. */
export async function completeIndexTask(
  catalog: Catalog,
  task: TaskRow,
  owner: string,
  partitions: readonly Omit<NewPartition, 'id' | 'created' | 'job_id' | 'task_id'>[],
  files: readonly Omit<NewTaskFile, 'id' | 'job_id' | 'task_id'>[],
  plan?: { partitions: number; minTsMs: number | null; maxTsMs: number | null },
  /** `ledger`: the table whose ledger records what this task loads (none for a dry run, which loads nothing). */
  rules: { budget?: RejectBudget; ledger?: { tableId: string; force: boolean }; quarantine?: readonly Omit<NewQuarantineFile, 'id' | 'created' | 'job_id' | 'task_id'>[] } = {},
): Promise<void> {
  await catalog.db.transaction().execute(async (trx) => {
    await fencedFinish(trx, catalog.dialect, task, owner, 'DONE', plan ? { partitions: plan.partitions, min_ts_ms: plan.minTsMs, max_ts_ms: plan.maxTsMs } : {});
    if (rules.budget && hasRejectBudget(rules.budget)) await checkRejectBudget(trx, catalog.dialect, task.job_id, rules.budget, files);
    if (rules.ledger) {
      // The table's row is taken first, so two jobs committing the same object at once are checked one after the other.
      if (catalog.dialect === 'postgres') await trx.selectFrom('tables').select('id').where('id', '=', rules.ledger.tableId).forUpdate().execute();
      await recordLoaded(trx, { tableId: rules.ledger.tableId, jobId: task.job_id, taskId: task.id, force: rules.ledger.force }, files);
    }
    const now = isoMicros();
    const partitionRows = partitions.map((p) => ({ ...p, id: randomUUID(), created: now, job_id: task.job_id, task_id: task.id }));
    for (let i = 0; i < partitionRows.length; i += 300)
      await trx
        .insertInto('partitions')
        .values(partitionRows.slice(i, i + 300))
        .execute();
    const quarantineRows = (rules.quarantine ?? []).map((q) => ({ ...q, id: randomUUID(), created: now, job_id: task.job_id, task_id: task.id }));
    for (let i = 0; i < quarantineRows.length; i += 300)
      await trx
        .insertInto('quarantine')
        .values(quarantineRows.slice(i, i + 300))
        .execute();
    const perTable = new Map<string, { added: number; span: number }>();
    for (const p of partitions) {
      const seen = perTable.get(p.table_id) ?? { added: 0, span: 0 };
      perTable.set(p.table_id, { added: seen.added + 1, span: Math.max(seen.span, p.max_ts_ms - p.min_ts_ms) });
    }
    for (const [tableId, { added, span }] of perTable) {
      await trx
        .updateTable('tables')
        .set((eb) => ({
          partition_count: eb('partition_count', '+', added),
          max_partition_span_ms: eb.case().when('max_partition_span_ms', '<', span).then(span).else(eb.ref('max_partition_span_ms')).end(),
        }))
        .where('id', '=', tableId)
        .execute();
    }
    const fileRows = files.map((f) => ({ ...f, id: randomUUID(), job_id: task.job_id, task_id: task.id }));
    for (let i = 0; i < fileRows.length; i += 300)
      await trx
        .insertInto('task_files')
        .values(fileRows.slice(i, i + 300))
        .execute();
    await finishJobIfComplete(trx, catalog.dialect, task.job_id);
  });
}

/**
 * Throws RejectBudgetError (rolling the commit back) when this task's files would take the job
 * over its reject budget. The job's row is taken first, so tasks committing at once are
 * checked one after the other, each against the ones before it.
 */
async function checkRejectBudget(trx: Trx, dialect: Dialect, jobId: string, budget: RejectBudget, files: readonly Omit<NewTaskFile, 'id' | 'job_id' | 'task_id'>[]): Promise<void> {
  if (dialect === 'postgres') await trx.selectFrom('jobs').select('id').where('id', '=', jobId).forUpdate().execute();
  const committed = await trx
    .selectFrom('task_files')
    .select((eb) => [eb.fn.sum<number>('rows_read').as('read'), eb.fn.sum<number>('rows_rejected').as('rejected')])
    .where('job_id', '=', jobId)
    .executeTakeFirstOrThrow();
  const over = overRejectBudget(budget, files, { read: Number(committed.read ?? 0), rejected: Number(committed.rejected ?? 0) });
  if (over) throw new RejectBudgetError(over.message, over.url);
}

/** A failed attempt: back to READY after a backoff while attempts remain, else FAILED with the error on the job. */
export async function failTask(catalog: Catalog, task: TaskRow, owner: string, error: string, options: { retry: boolean; files?: readonly Omit<NewTaskFile, 'id' | 'job_id' | 'task_id'>[] }): Promise<void> {
  await catalog.db.transaction().execute(async (trx) => {
    if (options.retry && task.attempts - task.retried_attempts < MAX_TASK_ATTEMPTS) {
      await fencedFinish(trx, catalog.dialect, task, owner, 'READY', { error, run_after_ms: dbNowPlusMs(catalog.dialect, 1000 * 2 ** task.attempts) });
      return;
    }
    await fencedFinish(trx, catalog.dialect, task, owner, 'FAILED', { error });
    const fileRows = (options.files ?? []).map((f) => ({ ...f, id: randomUUID(), job_id: task.job_id, task_id: task.id }));
    for (let i = 0; i < fileRows.length; i += 300)
      await trx
        .insertInto('task_files')
        .values(fileRows.slice(i, i + 300))
        .execute();
    await appendJobError(trx, task.job_id, `${task.type} task failed: ${error}`);
    await endAfterFailedTask(trx, catalog.dialect, task);
  });
}

/** After a task failed for good, whether by its error or by the reaper: the job ends if nothing else can run. */
async function endAfterFailedTask(trx: Trx, dialect: Dialect, task: Pick<TaskRow, 'job_id' | 'type'>): Promise<void> {
  if (task.type !== 'LIST') return finishJobIfComplete(trx, dialect, task.job_id);
  // Without a listing there is nothing else to run (and finishJobIfComplete waits for one): the
  // job fails now, and the INDEX tasks its listing made so far do not start (those running finish).
  await setJobFinished(trx, task.job_id, 'failed');
  await trx.updateTable('tasks').set({ state: 'CANCELED', modified: isoMicros() }).where('job_id', '=', task.job_id).where('state', '=', 'READY').execute();
}

async function appendJobError(trx: Trx, jobId: string, error: string): Promise<void> {
  const job = await trx.selectFrom('jobs').select('errors').where('id', '=', jobId).executeTakeFirst();
  if (!job) return;
  const errors = JSON.parse(job.errors) as string[];
  errors.push(error);
  await trx
    .updateTable('jobs')
    .set({ errors: JSON.stringify(errors) })
    .where('id', '=', jobId)
    .execute();
}

async function setJobFinished(trx: Trx, jobId: string, status: JobStatus): Promise<void> {
  await trx.updateTable('jobs').set({ status, finished_at_ms: Date.now(), modified: isoMicros() }).where('id', '=', jobId).where('status', 'in', ['ready', 'running']).execute();
}

/**
 * Once listing is done and no task can still run, the job is over: `failed` when any task
 * failed (its files could not be read; the other tasks' data stays loaded) or when every row
 * it read was rejected, otherwise `done`.
 */
export async function finishJobIfComplete(trx: Trx, dialect: Dialect, jobId: string): Promise<void> {
  // On PostgreSQL two tasks committing at once would each count the other as still running, and
  // neither would end the job: the job's row is taken first, so the second counts after the first
  // has committed. (SQLite runs one writer at a time.)
  const select = trx.selectFrom('jobs').select(['listing_done', 'status']).where('id', '=', jobId);
  const job = await (dialect === 'postgres' ? select.forUpdate() : select).executeTakeFirst();
  if (!job || job.listing_done !== 1 || (job.status !== 'ready' && job.status !== 'running')) return;
  const counts = await trx
    .selectFrom('tasks')
    .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
    .where('job_id', '=', jobId)
    .groupBy('state')
    .execute();
  const count = (state: string) => Number(counts.find((c) => c.state === state)?.n ?? 0);
  if (count('READY') + count('RUNNING') > 0) return;
  if (count('FAILED') === 0 && (await everyRowRejected(trx, jobId))) {
    await appendJobError(trx, jobId, 'every row the job read was rejected, so it loaded nothing: the transform does not fit the data (the file reports give each reason); fix it and run the job again');
    await setJobFinished(trx, jobId, 'failed');
    return;
  }
  await setJobFinished(trx, jobId, count('FAILED') > 0 ? 'failed' : 'done');
}

/** Rows were read and not one was accepted: a job that loads nothing of what it read has not done its work. */
async function everyRowRejected(trx: Trx, jobId: string): Promise<boolean> {
  const totals = await trx
    .selectFrom('task_files')
    .select((eb) => [eb.fn.sum<number>('rows_read').as('read'), eb.fn.sum<number>('rows_rejected').as('rejected')])
    .where('job_id', '=', jobId)
    .executeTakeFirstOrThrow();
  const read = Number(totals.read ?? 0);
  return read > 0 && Number(totals.rejected ?? 0) === read;
}

/** Cancels a job: nothing new starts, and running tasks lose their lease, so they commit nothing. */
export async function cancelJobTasks(catalog: Catalog, jobId: string): Promise<boolean> {
  return catalog.db.transaction().execute(async (trx) => {
    const result = await trx.updateTable('jobs').set({ status: 'canceled', finished_at_ms: Date.now(), modified: isoMicros() }).where('id', '=', jobId).where('status', 'in', ['ready', 'running']).executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return false;
    await trx.updateTable('tasks').set({ state: 'CANCELED', lease_expires_at_ms: null, modified: isoMicros() }).where('job_id', '=', jobId).where('state', 'in', ['READY', 'RUNNING']).execute();
    return true;
  });
}

/** Hands a task back on shutdown, so the next worker can take it at once; the attempt does not count. */
export async function releaseTask(catalog: Catalog, task: TaskRow, owner: string): Promise<void> {
  await catalog.db
    .updateTable('tasks')
    .set((eb) => ({ state: 'READY', lease_owner: null, lease_expires_at_ms: null, attempts: eb('attempts', '-', 1), modified: isoMicros() }))
    .where('id', '=', task.id)
    .where('state', '=', 'RUNNING')
    .where('lease_owner', '=', owner)
    .where('attempts', '=', task.attempts)
    .execute();
}
