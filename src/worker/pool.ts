import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { getJobById } from '../catalog/jobs.js';
import { jobSettingsOf } from '../catalog/parsed.js';
import type { JobRow, TaskRow } from '../catalog/schema.js';
import { claimTask, completeIndexTask, failTask, releaseTask, renewLease, type Lease, type TaskProgress } from '../catalog/tasks.js';
import { isUsable } from '../duckdb/engine.js';
import { openDuckDB } from '../duckdb/instances.js';
import { errorMessage, InletError, LeaseLostError, RejectBudgetError } from '../errors.js';
import type { TaskOutcome } from '../metrics/worker.js';
import { sleep } from '../time.js';
import { engineScratchName, heartbeatMs, scratchRoot, type WorkerContext } from './context.js';
import { dataDirIdentity, leaseOwner, ownerPrefix } from './identity.js';
import { runIndexTask, TaskInputError, type FileReport } from './index-task.js';
import { runListTask } from './list-task.js';
import { runReaper } from './reaper.js';
import { SlotMemory } from './slot-memory.js';
import { startPartitionSweeper, sweepOrphans } from './sweep.js';
import { takeBackEarlierRun } from './takeback.js';

/**
 * Worker slots in this process. Each slot claims one task at a time with a lease, renews it
 * while it works, and stops the task as soon as the lease is gone (job canceled, or the lease
 * expired and the task went elsewhere): a task only ever commits under a lease it still holds.
 */
export class WorkerPool {
  private readonly stopping = new AbortController();
  private readonly wake = new EventEmitter();
  private readonly loops: Promise<void>[] = [];
  private readonly engines: DuckDBInstance[] = [];
  private lease: Lease;
  private takingBack: Promise<void> = Promise.resolve();
  private stopSweeper: (() => void) | undefined;
  private readonly memory: SlotMemory | undefined;

  constructor(
    private readonly ctx: WorkerContext,
    private readonly slots: number,
  ) {
    this.lease = { owner: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`, durationMs: ctx.config.leaseSeconds * 1000 };
    this.wake.setMaxListeners(0);
    this.memory = ctx.config.duckdbMemoryBudgetMb === undefined ? undefined : new SlotMemory(ctx.config.duckdbMemoryBudgetMb, ctx.log);
  }

  async start(): Promise<void> {
    // Leases name the data dir's worker, so the next start on this data dir knows which tasks were its own.
    const identity = await dataDirIdentity(this.ctx.config.dataDir);
    this.lease = { ...this.lease, owner: leaseOwner(identity, this.lease.owner) };
    await sweepOrphans(this.ctx);
    this.stopSweeper = startPartitionSweeper(this.ctx);
    for (let slot = 0; slot < this.slots; slot++) {
      this.engines.push(await this.openEngine(slot));
      this.loops.push(this.loop(slot));
    }
    this.loops.push(runReaper(this.ctx, this.stopping.signal, () => this.nudge()));
    this.takingBack = takeBackEarlierRun(this.ctx, this.lease, ownerPrefix(identity), this.stopping.signal, () => this.nudge()).catch((err: unknown) =>
      this.ctx.log.error({ err: errorMessage(err) }, 'taking back the tasks of an earlier run failed; they run again when their leases expire'),
    );
  }

  /** Tells idle slots that work may be waiting (a job was just created in this process). */
  nudge(): void {
    this.wake.emit('work');
  }

  /** Stops claiming, hands running tasks back, and waits for every slot to finish. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.stopSweeper?.();
    this.nudge();
    await Promise.all([...this.loops, this.takingBack]);
    for (const engine of this.engines) engine.closeSync();
  }

  private async idle(): Promise<void> {
    const woken = new AbortController();
    const onWake = () => woken.abort();
    this.wake.once('work', onWake);
    await sleep(this.ctx.config.pollIntervalMs, AbortSignal.any([woken.signal, this.stopping.signal]));
    this.wake.off('work', onWake);
  }

  private openEngine(slot: number): Promise<DuckDBInstance> {
    return openDuckDB({
      kind: 'worker-slot',
      threads: this.ctx.config.duckdbThreads,
      memoryLimit: this.ctx.config.duckdbMemoryLimit,
      tempDirectory: path.join(scratchRoot(this.ctx.config), engineScratchName(process.pid, slot)),
      allowedDirectories: [scratchRoot(this.ctx.config), ...this.ctx.storage.writableDirs(), ...this.ctx.config.fileRoots],
    });
  }

  /**
   * The slot's engine, opened again if DuckDB stopped it (stopsInstance): a failed check of its
   * own, on whatever data, must not fail every later task of the slot.
   */
  private async usableEngine(slot: number): Promise<DuckDBInstance> {
    const engine = this.engines[slot]!;
    if (await isUsable(engine)) return engine;
    this.ctx.log.error({ slot }, "DuckDB stopped this slot's engine after an internal error; opening it again");
    try {
      engine.closeSync();
    } catch {
      // A stopped instance may fail to close; it is dropped either way.
    }
    return (this.engines[slot] = await this.openEngine(slot));
  }

  private async loop(slot: number): Promise<void> {
    while (!this.stopping.signal.aborted) {
      let task: TaskRow | undefined;
      const claiming = performance.now();
      try {
        task = await claimTask(this.ctx.catalog, this.lease);
        this.ctx.metrics?.claimDuration.observe({ found: task ? 'yes' : 'no' }, (performance.now() - claiming) / 1000);
      } catch (err) {
        this.ctx.log.error({ err: errorMessage(err) }, 'claiming a task failed; retrying');
      }
      if (!task) {
        await this.idle();
        continue;
      }
      const outcome = await this.run(this.engines[slot]!, task);
      if (outcome !== 'done') await this.usableEngine(slot).catch((err: unknown) => this.ctx.log.error({ slot, err: errorMessage(err) }, "opening the slot's engine again failed; its next task tries again"));
    }
  }

  private async run(engine: DuckDBInstance, task: TaskRow): Promise<TaskOutcome> {
    const { catalog, log } = this.ctx;
    const abort = new AbortController();
    const signal = AbortSignal.any([abort.signal, this.stopping.signal]);
    const beatMs = heartbeatMs(this.lease.durationMs);
    // Filled in by the task as it works; each renewal reports it, so status shows it without a write of its own.
    const progress: TaskProgress = { bytesRead: 0, rowsRead: 0 };
    const lease = { renewedAt: Date.now() };
    const heartbeat = setInterval(() => void this.beat(task, abort, lease, progress), beatMs);
    const started = Date.now();
    let discard: (() => Promise<void>) | undefined;
    let phases: Record<string, number> = {};
    let job: JobRow | undefined;
    let changed = false;
    let outcome: TaskOutcome = 'stopped';
    let reports: readonly FileReport[] = [];
    try {
      job = await getJobById(catalog, task.job_id);
      if (!job) throw new LeaseLostError(`job ${task.job_id} no longer exists`);
      if (task.type === 'LIST') {
        await runListTask(this.ctx, task, job, this.lease.owner, signal);
      } else {
        await this.memory?.acquire(engine);
        const result = await runIndexTask(this.ctx, engine, task, job, signal, progress).finally(() => this.memory?.release(engine));
        reports = result.files;
        discard = result.discard;
        phases = result.phases;
        const tableId = job.table_id;
        const settings = jobSettingsOf(job);
        await completeIndexTask(
          catalog,
          task,
          this.lease.owner,
          result.partitions.map((p) => ({ table_id: tableId, path: p.path, storage_id: p.storageId, min_ts_ms: p.minTsMs, max_ts_ms: p.maxTsMs, rows: p.rows, bytes: p.bytes, schema_key: p.schemaKey })),
          result.files,
          result.plan,
          {
            budget: settings,
            ...(settings.dry_run ? {} : { ledger: { tableId, force: settings.force === true } }),
            quarantine: result.quarantine.map((q) => ({ table_id: tableId, path: q.path, storage_id: q.storageId, rows: q.rows, bytes: q.bytes })),
          },
        );
        discard = undefined;
      }
      changed = true;
      outcome = 'done';
      log.info({ job: task.job_id, task: task.id, type: task.type, ms: Date.now() - started, ...phases }, 'task done');
    } catch (err) {
      changed = await this.settleFailure(task, err, signal, reports);
      // A failure recorded in the catalog is "failed"; a lost lease, a cancel or a shutdown, "stopped".
      if (changed) outcome = 'failed';
    } finally {
      clearInterval(heartbeat);
      this.ctx.metrics?.taskDuration.observe({ type: task.type, outcome }, (Date.now() - started) / 1000);
      await discard?.().catch((err: unknown) => log.warn({ task: task.id, err: errorMessage(err) }, 'removing uncommitted partitions failed; the sweeper will'));
      if (changed && job) this.ctx.onJobChanged?.(job.org_id, job.id);
    }
    return outcome;
  }

  /**
   * One heartbeat of a running task: renews its lease and looks at its job. The task's signal
   * is aborted (interrupting its downloads and DuckDB statements) when the task is no longer
   * ours, when its job was canceled or deleted, or when renewals have failed for a whole lease,
   * since by then another worker may have claimed it.
   */
  private async beat(task: TaskRow, abort: AbortController, lease: { renewedAt: number }, progress: TaskProgress): Promise<void> {
    const { catalog, log } = this.ctx;
    const stop = (reason: string) => abort.signal.aborted || abort.abort(new LeaseLostError(`task ${task.id} stopped: ${reason}`));
    const [renewed, job] = await Promise.allSettled([renewLease(catalog, task, this.lease, progress), getJobById(catalog, task.job_id)]);
    if (renewed.status === 'fulfilled') {
      if (renewed.value) lease.renewedAt = Date.now();
      else stop('it lost its lease (canceled, or taken by another worker after its lease expired)');
    } else {
      log.warn({ task: task.id, err: errorMessage(renewed.reason) }, 'lease renewal failed');
      if (Date.now() - lease.renewedAt > this.lease.durationMs) stop('its lease could not be renewed before it expired');
    }
    if (job.status === 'fulfilled' && (!job.value || job.value.status === 'canceled')) stop(`job ${task.job_id} was canceled or deleted`);
  }

  /** Records how a task ended without committing; answers whether the job's state changed. */
  private async settleFailure(task: TaskRow, err: unknown, signal: AbortSignal, reports: readonly FileReport[]): Promise<boolean> {
    const { catalog, log } = this.ctx;
    const owner = this.lease.owner;
    try {
      if (this.stopping.signal.aborted) {
        await releaseTask(catalog, task, owner);
        log.info({ task: task.id }, 'task handed back on shutdown');
      } else if (err instanceof LeaseLostError || signal.aborted) {
        log.info({ task: task.id, reason: errorMessage(signal.reason ?? err) }, 'task stopped: lease lost or job canceled; nothing committed');
      } else if (err instanceof TaskInputError) {
        await failTask(catalog, task, owner, err.message, { retry: false, files: err.files });
        log.warn({ task: task.id, err: err.message }, 'task failed: input could not be read');
        return true;
      } else if (err instanceof RejectBudgetError) {
        // The same rows would be rejected again: no retry. The reports keep the sample rejects; nothing is counted as loaded.
        const files = reports.map((f) => ({ ...f, rows_read: 0, rows_written: 0, rows_rejected: 0, error: f.url === err.url ? err.message : 'not loaded: another file of the same task went over the reject budget' }));
        await failTask(catalog, task, owner, err.message, { retry: false, files });
        log.warn({ task: task.id, err: err.message }, 'task failed: over its reject budget');
        return true;
      } else {
        // Source errors will not change on retry; anything unexpected (disk, engine) gets another attempt.
        const retry = !(err instanceof InletError) || err.retryable;
        await failTask(catalog, task, owner, errorMessage(err), { retry });
        log.warn({ task: task.id, err: errorMessage(err), retry }, 'task attempt failed');
        return true;
      }
    } catch (settleErr) {
      if (!(settleErr instanceof LeaseLostError)) log.error({ task: task.id, err: errorMessage(settleErr) }, 'recording a task failure failed');
    }
    return false;
  }
}
