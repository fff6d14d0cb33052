import { mkdir, rm, writeFile } from 'node:fs/promises';
import { jobSettingsOf, jobTransformOf } from '../catalog/parsed.js';
import path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { JobRow, NewTaskFile, TaskRow } from '../catalog/schema.js';
import type { TaskProgress } from '../catalog/tasks.js';
import { withConnection } from '../duckdb/engine.js';
import { errorMessage, SourceError } from '../errors.js';
import { UnreadableFileError, type ConvertedChunk, type FileAccount, type ReadGroup } from '../ingest/convert.js';
import { convertChunk } from '../ingest/convert-chunk.js';
import { readGroups } from '../ingest/read-groups.js';
import { bundleObjects, HoldBudget } from '../ingest/bundle.js';
import { schemaKey } from '../transform/compile.js';
import { mapLimit } from '../map-limit.js';
import { fetchToFile } from '../ingest/fetch.js';
import { DecodeTally, DEFAULT_DECODE_CHECKED_FROM } from '../ingest/decompress.js';
import { isRejectsUrl, readRejects } from '../sources/rejects-source.js';
import { planPartitions, writePartitions, type WrittenPartition } from '../ingest/partition.js';
import { writeQuarantine, type QuarantineFile } from '../ingest/quarantine.js';
import { quarantinedRows } from '../catalog/quarantine.js';
import { DEFAULT_MAX_QUARANTINED_ROWS } from '../jobs/settings.js';
import { checkSqlTransform } from '../transform/sql-check.js';
import { scratchRoot, type WorkerContext } from './context.js';

export type FileReport = Omit<NewTaskFile, 'id' | 'job_id' | 'task_id'>;

export interface IndexResult {
  readonly partitions: readonly (WrittenPartition & { path: string; storageId: string | null; schemaKey: string })[];
  /** The rejected records kept, a Parquet file per chunk beside the partitions, committed with them. */
  readonly quarantine: readonly (QuarantineFile & { path: string; storageId: string | null })[];
  readonly files: readonly FileReport[];
  /** Removes this attempt's Parquet files (wherever the storage put them) when the commit does not happen. */
  discard(): Promise<void>;
  /** The partitions written, or for a dry run the ones that would be. */
  readonly plan: PartitionPlan;
  /** Milliseconds spent downloading, converting and writing: where a task's time went. */
  readonly phases: { fetchMs: number; convertMs: number; writeMs: number };
}

export interface PartitionPlan {
  readonly partitions: number;
  readonly minTsMs: number | null;
  readonly maxTsMs: number | null;
}

function summarise(parts: readonly { minTsMs: number; maxTsMs: number }[]): PartitionPlan {
  if (parts.length === 0) return { partitions: 0, minTsMs: null, maxTsMs: null };
  return { partitions: parts.length, minTsMs: Math.min(...parts.map((p) => p.minTsMs)), maxTsMs: Math.max(...parts.map((p) => p.maxTsMs)) };
}

/** The files of one task could not all be read; carries a report for each file. */
export class TaskInputError extends SourceError {
  constructor(
    message: string,
    readonly files: readonly FileReport[],
    cause: unknown,
  ) {
    super(message, { cause });
  }
}

/** How many objects of one task are downloaded at once: S3 answers each GET after a round trip, so small files need many in flight. */
const FETCH_PARALLELISM = 16;
/** Partitions one task writes at once (each a COPY on its own connection), within max_active_partitions. */
const PARTITION_WRITERS = 4;
/** Files converted together at most (see chunksOf); their bytes are bounded by INLET_CHUNK_BYTES. */
const CHUNK_FILES = 1000;

/**
 * One INDEX task: download and decompress its objects, convert them with one DuckDB read per
 * group, account for every row, and write partitions into a directory private to this attempt.
 * Nothing is visible until the caller commits the result to the catalog. `progress` counts the
 * bytes read and rows converted as they are, for the caller's lease renewals to report.
 */
export async function runIndexTask(ctx: WorkerContext, engine: DuckDBInstance, task: TaskRow, job: JobRow, signal: AbortSignal, progress: TaskProgress = { bytesRead: 0, rowsRead: 0 }): Promise<IndexResult> {
  const settings = jobSettingsOf(job);
  const sources = await ctx.sources.forJob(ctx.catalog, job);
  // A sql_transform runs only as the SELECT checked here, whatever check the stored transform passed.
  const checked = await checkSqlTransform(jobTransformOf(job));
  // A replay of a quarantine reads raw records, one a line: no header, nothing compressed.
  const replay = isRejectsUrl(settings.source.settings.url);
  const transform = replay ? { ...checked, compression: 'none' as const, csv: { ...checked.csv, skipHead: 0 } } : checked;
  const listed = JSON.parse(task.input) as { url: string; size: number; version?: string }[];
  // A retried task's objects carry no version (they are read afresh): the one they have now is checked as they are read, and recorded.
  // Their listed size is then another version's too: only a size of the version read lets fetch read an object whole.
  const looked = await mapLimit(listed, FETCH_PARALLELISM, async (input) => (input.version === undefined ? sources.currentVersion(input.url, signal) : input.version));
  // An object that cannot be looked up is read without one, and fails (or not) as its read does.
  const inputs = listed.map((input, i) => {
    const version = input.version ?? (looked[i]!.status === 'fulfilled' ? looked[i]!.value : undefined);
    return version === undefined ? input : { ...input, version };
  });
  const attempt = `${task.id}-${task.attempts}`;
  const scratch = path.join(scratchRoot(ctx.config), attempt);
  const output = await ctx.storage.attemptOutput(job.table_id, attempt, scratch);
  const outputDir = output.dir;
  await mkdir(scratch, { recursive: true });
  const windowing = { maxRows: settings.max_rows_per_partition, maxMinutes: settings.max_minutes_per_partition };
  const columnsKey = schemaKey(transform);
  const writer = { instance: engine, signal, threads: ctx.config.duckdbThreads, parallel: Math.min(settings.max_active_partitions, PARTITION_WRITERS) };
  const chunks = chunksOf(inputs, ctx.config.chunkBytes);
  const fetchedBytes: number[] = inputs.map((input) => input.size);
  const accounts: FileAccount[] = new Array(inputs.length);
  const written: WrittenPartition[] = [];
  const quarantined: QuarantineFile[] = [];
  const keptPerFile: number[] = inputs.map(() => 0);
  // Checked as the task starts: tasks running at once may together keep a little more than the bound.
  let keepRejects = settings.dry_run ? undefined : Math.max(0, (settings.max_quarantined_rows ?? DEFAULT_MAX_QUARANTINED_ROWS) - (await quarantinedRows(ctx.catalog, job.id)));
  const planned: { minTsMs: number; maxTsMs: number }[] = [];
  const phases = { fetchMs: 0, convertMs: 0, writeMs: 0 };
  // The next chunk downloads while this one converts; it stops with the task.
  const prefetch = new AbortController();
  const fetchSignal = AbortSignal.any([signal, prefetch.signal]);
  // Small NDJSON and CSV objects are held in memory and read as one bundle (bundle.ts), a budget per chunk.
  const bundling = !replay;
  // The task's objects are judged together as well as one by one (see ExpansionLimit).
  const decodeLimit = { maxRatio: ctx.config.maxDecodeRatio, checkedFrom: DEFAULT_DECODE_CHECKED_FROM, task: new DecodeTally().buffer };
  const fetchChunk = (chunk: readonly number[], budget = new HoldBudget()) =>
    mapLimit(chunk, FETCH_PARALLELISM, (i) =>
      (replay
        ? readRejects({ catalog: ctx.catalog, storage: ctx.storage, engine }, job.org_id, inputs[i]!.url, path.join(scratch, `input-${i}`), transform.type === 'csv' ? transform.csv : undefined, fetchSignal)
        : fetchToFile(sources, inputs[i]!.url, transform.compression, path.join(scratch, `input-${i}`), {
            attempts: ctx.config.readAttempts,
            signal: fetchSignal,
            decodeLimit,
            version: inputs[i]!.version,
            size: listed[i]!.version === undefined ? undefined : inputs[i]!.size,
            hold: bundling ? (bytes) => budget.take(bytes) : undefined,
          })
      ).then((fetched) => {
        progress.bytesRead += fetched.bytes;
        return fetched;
      }),
    );
  let next: ReturnType<typeof fetchChunk> | undefined = chunks.length > 0 ? fetchChunk(chunks[0]!) : undefined;
  try {
    for (const [k, chunk] of chunks.entries()) {
      let mark = performance.now();
      const fetched = await next!;
      phases.fetchMs += performance.now() - mark;
      // Converting starts here: bundling and the checks of readGroups read every byte before DuckDB does.
      mark = performance.now();
      signal.throwIfAborted();
      const failures = fetched.flatMap((r, j) => (r.status === 'rejected' ? [{ url: inputs[chunk[j]!]!.url, error: errorMessage(r.reason), reason: r.reason }] : []));
      if (failures.length > 0) throw inputError(inputs, failures);
      fetched.forEach((r, j) => {
        if (r.status === 'fulfilled') fetchedBytes[chunk[j]!] = r.value.bytes;
      });
      next = k + 1 < chunks.length ? fetchChunk(chunks[k + 1]!) : undefined;

      // Downloads are in scratch; uncompressed file:// objects are read where they are; held ones are bundled.
      // Every download succeeded: a failure was thrown above.
      const done = fetched.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const held = done.flatMap((f, j) => ('data' in f && f.data ? [{ number: j, data: f.data }] : []));
      const bundle = await bundleObjects(transform, held, path.join(scratch, `bundle-${k}`), ctx.config.maxLineBytes);
      // Held objects left out of the bundle are read from files: a file read in place is one already.
      await Promise.all(
        bundle.others.map((o) => {
          const fetched = done[o.number]!;
          return 'inPlace' in fetched && fetched.inPlace ? undefined : writeFile(fetched.path, o.data);
        }),
      );
      const bundled = new Set(bundle.group?.numbers);
      const local = done.map((f, j) => (bundled.has(j) ? undefined : f.path));
      // A file refused before DuckDB reads it is named as one refused while it reads.
      const unreadable = (err: unknown) => {
        if (!(err instanceof UnreadableFileError)) return err;
        const url = inputs[chunk[err.fileNumber]!]!.url;
        return inputError(inputs, [{ url, error: `${url} ${err.message}`, reason: err }]);
      };
      const lines = { maxLineBytes: ctx.config.maxLineBytes, copyOf: (j: number) => path.join(scratch, `lines-${chunk[j]}`) };
      let groups: readonly ReadGroup[] = await readGroups(transform, local, lines, { judge: false }).catch((err: unknown) => {
        throw unreadable(err);
      });
      if (bundle.group) groups = [...groups, bundle.group];
      await withConnection(engine, signal, async (connection) => {
        let converted: ConvertedChunk | undefined;
        try {
          // Shared, so its partitions can be written on several connections at once.
          const sqlTransformTimeoutMs = ctx.config.sqlTransformTimeoutSeconds * 1000;
          const options = { connection, transform, groups, fileCount: local.length, nowMs: Date.now(), shared: !settings.dry_run, keepRejects, sqlTransformTimeoutMs };
          ({ chunk: converted, groups } = await convertChunk(options, { lines, evenOf: (j) => path.join(scratch, `even-${chunk[j]}`) }));
          converted.accounts.forEach((account, j) => (accounts[chunk[j]!] = account));
          progress.rowsRead += converted.accounts.reduce((sum, account) => sum + account.rowsRead, 0);
          const urls = chunk.map((i) => inputs[i]!.url);
          const kept = await writeQuarantine(converted, { jobId: job.id, urls, file: path.join(outputDir, 'rejects', `chunk-${k}.parquet`) });
          if (kept) {
            quarantined.push(kept);
            keepRejects = Math.max(0, keepRejects! - kept.rows);
            converted.rejects!.kept.forEach((n, j) => (keptPerFile[chunk[j]!] = n ?? 0));
          }
          phases.convertMs += performance.now() - mark;
          mark = performance.now();
          // A dry run counts what it would write: the same plan, no sort and no file.
          const limits = { ...windowing, maxPartitions: ctx.config.maxPartitionsPerTask - (settings.dry_run ? planned : written).length };
          if (settings.dry_run) planned.push(...(await planPartitions(converted, limits)));
          else written.push(...(await writePartitions(converted, limits, path.join(outputDir, `chunk-${k}`), writer)));
          phases.writeMs += performance.now() - mark;
        } catch (err) {
          throw unreadable(err);
        } finally {
          await converted?.drop();
        }
      });
      const read = groups.flatMap((group) => group.files);
      await Promise.all([...local, ...read].filter((file) => file?.startsWith(scratch + path.sep)).map((file) => rm(file!, { force: true })));
    }
    // A file rewritten in place while DuckDB or a download read it gives torn rows.
    const changed = await sources.changedSinceListed(inputs);
    if (changed.length > 0) throw inputError(inputs, changed);
    // Uploaded (for object storage) before the commit, which alone makes them visible.
    const published = await output.publish(
      [...written, ...quarantined].map((p) => p.file),
      signal,
    );
    return {
      discard: () => output.discard(),
      phases: { fetchMs: Math.round(phases.fetchMs), convertMs: Math.round(phases.convertMs), writeMs: Math.round(phases.writeMs) },
      plan: summarise(settings.dry_run ? planned : written),
      partitions: written.map((p, i) => ({ ...p, path: published[i]!.path, storageId: published[i]!.storageId, schemaKey: columnsKey })),
      quarantine: quarantined.map((q, i) => ({ ...q, path: published[written.length + i]!.path, storageId: published[written.length + i]!.storageId })),
      files: inputs.map((input, i) => fileReport(input, fetchedBytes[i]!, accounts[i]!, keptPerFile[i]!)),
    };
  } catch (err) {
    await output.discard().catch((discardErr: unknown) => ctx.log.warn({ task: task.id, err: errorMessage(discardErr) }, "removing a failed attempt's partitions failed; the sweeper will"));
    throw err;
  } finally {
    prefetch.abort();
    await next?.catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Splits a task's objects, in order, into chunks converted and written one at a time: at most
 * `chunkBytes` of objects (a larger object is a chunk of its own) and CHUNK_FILES files. DuckDB's
 * working set is then bounded by the chunk, not by input_aggregation, and the next chunk can
 * download while this one converts. A time window that straddles two chunks gets one partition
 * from each. The first chunk is an eighth of the size: nothing overlaps its download, so the
 * sooner it is in, the sooner the cores have work (docs/benchmarks.md, "Shape matrix").
 */
export function chunksOf(inputs: readonly { size: number }[], chunkBytes: number): number[][] {
  const chunks: number[][] = [];
  let chunk: number[] = [];
  let bytes = 0;
  for (const [i, input] of inputs.entries()) {
    const limit = chunks.length === 0 ? chunkBytes / 8 : chunkBytes;
    if (chunk.length > 0 && (bytes + input.size > limit || chunk.length >= CHUNK_FILES)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(i);
    bytes += input.size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/** The task's files could not all be read: the failed ones carry their error, the others say why they were not loaded. */
function inputError(inputs: readonly { url: string; size: number; version?: string }[], failures: readonly { url: string; error: string; reason?: unknown }[]): TaskInputError {
  const failed = new Map(failures.map((f) => [f.url, f.error]));
  const reports = inputs.map((input) => ({
    ...emptyReport(input.url, input.size, input.version),
    error: failed.get(input.url) ?? 'not loaded: another file of the same task could not be read',
  }));
  return new TaskInputError(failures.map((f) => f.error).join('; '), reports, failures[0]!.reason);
}

function emptyReport(url: string, bytes: number, version: string | undefined): FileReport {
  return { url, bytes, rows_read: 0, rows_written: 0, rows_rejected: 0, rejects: '[]', error: null, version: version ?? null };
}

function fileReport(input: { url: string; version?: string }, bytes: number, account: FileAccount, quarantined: number): FileReport {
  return {
    url: input.url,
    version: input.version ?? null,
    bytes,
    rows_read: account.rowsRead,
    rows_written: account.rowsWritten,
    rows_rejected: account.rowsRejected,
    rejects: JSON.stringify(account.rejects),
    rows_quarantined: quarantined,
    error: null,
  };
}
