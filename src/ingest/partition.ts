import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { isOutOfMemory, memoryUse, queryRows, withConnection } from '../duckdb/engine.js';
import { ACCEPTED_FILTER, ROW_COLUMN, WINDOW_COLUMN } from '../transform/bookkeeping.js';
import { quoteIdent, quoteLiteral, storedColumns } from '../transform/compile.js';
import type { Transform } from '../transform/model.js';
import { mapLimit } from '../map-limit.js';
import { PartitionLimitError } from '../errors.js';
import type { ConvertedChunk } from './convert.js';

/**
 * The window a timestamp falls in: windows are `width` milliseconds, aligned to the epoch. Floor
 * division, so that before 1970 (datetime64 reaches back to 1925) the window just before the
 * epoch is not merged with the one after it, as DuckDB's `//` (which truncates) would.
 */
const windowSql = (ts: string, width: number) => `CASE WHEN epoch_ms(${ts}) < 0 THEN (epoch_ms(${ts}) + 1) // ${width} - 1 ELSE epoch_ms(${ts}) // ${width} END`;

export interface PartitionLimits {
  readonly maxRows: number;
  readonly maxMinutes: number;
  /** Most partitions these rows may make: what is left of the task's INLET_MAX_PARTITIONS_PER_TASK. */
  readonly maxPartitions: number;
}

/** DuckDB's own default size of a Parquet row group: queries skip whole row groups by their min/max. */
const ROW_GROUP_ROWS = 122_880;

/** A partition as planned: its rows are a contiguous range of the time-sorted accepted rows. */
export interface PlannedPartition {
  readonly rows: number;
  readonly minTsMs: number;
  readonly maxTsMs: number;
  /** 0-based range in time order, inclusive: row ids of the sorted table. */
  readonly first: number;
  readonly last: number;
  /** One of several chunks of a window: its own time range is narrower than the window's. */
  readonly split: boolean;
  /** The time window's number: its start over its width since the epoch. */
  readonly window: number;
}

export interface WrittenPartition {
  /** Absolute path of the Parquet file. */
  readonly file: string;
  readonly rows: number;
  readonly bytes: number;
  readonly minTsMs: number;
  readonly maxTsMs: number;
}

/**
 * The partitions the accepted rows make: none holds more than `maxRows` rows nor spans more
 * than `maxMinutes` of the primary timestamp. Windows are aligned to multiples of `maxMinutes`
 * since the epoch, so partitions of different tasks line up for pruning. Counting needs no sort,
 * so a dry run plans without writing anything.
 */
export function planPartitions(chunk: ConvertedChunk, limits: PartitionLimits): Promise<PlannedPartition[]> {
  return planOf(chunk.connection, chunk.transform, limits, chunk.accepted);
}

async function planOf(connection: DuckDBConnection, transform: Transform, limits: PartitionLimits, from: string): Promise<PlannedPartition[]> {
  const windows = await windowsOf(connection, transform, limits, from);
  const planned: PlannedPartition[] = [];
  let first = 0;
  for (const w of windows) {
    const rows = Number(w.rows);
    // A window over the row cap is split into chunks; their exact bounds are known once sorted.
    for (let done = 0; done < rows; done += limits.maxRows) {
      const n = Math.min(limits.maxRows, rows - done);
      planned.push({ rows: n, minTsMs: Number(w.min_ms), maxTsMs: Number(w.max_ms), first: first + done, last: first + done + n - 1, split: rows > limits.maxRows, window: Number(w.w) });
    }
    first += rows;
  }
  return planned;
}

/** A time window's rows as counted: its number, how many, their time range in epoch milliseconds. */
type CountedWindow = {
  readonly w: bigint;
  readonly rows: bigint;
  readonly min_ms: bigint;
  readonly max_ms: bigint;
};

/**
 * The windows the rows of `from` fall in, in time order, with the aggregates `more` adds. Throws
 * PartitionLimitError when they make more than `limits.maxPartitions` partitions, before any is
 * written: a primary timestamp spread over years, or a row cap of a few rows, would otherwise
 * make a file and a catalog row for every few rows. At most one window more than the bound is
 * fetched, however many the rows make.
 */
async function windowsOf<T extends object = object>(connection: DuckDBConnection, transform: Transform, limits: PartitionLimits, from: string, more?: string): Promise<(CountedWindow & T)[]> {
  const ts = quoteIdent(transform.primary);
  const windows = await queryRows<CountedWindow & T>(
    connection,
    `SELECT ${windowSql(ts, limits.maxMinutes * 60_000)} AS w, count(*) AS rows, epoch_ms(min(${ts})) AS min_ms, epoch_ms(max(${ts})) AS max_ms${more ? `, ${more}` : ''}
     FROM ${from} GROUP BY ALL ORDER BY w LIMIT ${limits.maxPartitions + 1}`,
  );
  const partitions = windows.reduce((sum, w) => sum + Math.ceil(Number(w.rows) / limits.maxRows), 0);
  if (partitions > limits.maxPartitions) throw await partitionLimitError(connection, transform, limits, from);
  return windows;
}

/** Says how many partitions the rows would make, over what time, and which setting to raise. */
async function partitionLimitError(connection: DuckDBConnection, transform: Transform, limits: PartitionLimits, from: string): Promise<PartitionLimitError> {
  const ts = quoteIdent(transform.primary);
  const [all] = await queryRows<{ windows: bigint; partitions: bigint; min_ms: bigint; max_ms: bigint }>(
    connection,
    `SELECT count(*) AS windows, sum((rows + ${limits.maxRows - 1}) // ${limits.maxRows}) AS partitions, min(min_ms) AS min_ms, max(max_ms) AS max_ms
     FROM (SELECT count(*) AS rows, epoch_ms(min(${ts})) AS min_ms, epoch_ms(max(${ts})) AS max_ms FROM ${from} GROUP BY ${windowSql(ts, limits.maxMinutes * 60_000)})`,
  );
  const windows = Number(all!.windows);
  const span = `${new Date(Number(all!.min_ms)).toISOString()} to ${new Date(Number(all!.max_ms)).toISOString()}`;
  const cause =
    windows > limits.maxPartitions
      ? `fall in ${windows} windows of max_minutes_per_partition=${limits.maxMinutes} minutes`
      : `fall in ${windows} windows, split at max_rows_per_partition=${limits.maxRows} rows into ${Number(all!.partitions)} partitions`;
  return new PartitionLimitError(
    `this task's rows (${transform.primary} from ${span}) ${cause}: more than the ${limits.maxPartitions} partitions this task may still write (INLET_MAX_PARTITIONS_PER_TASK). ` +
      `Raise settings.max_minutes_per_partition or settings.max_rows_per_partition, or check that the transform's primary column ${transform.primary} holds the events' times`,
  );
}

/** Where writing happens: the slot's DuckDB (for more connections) and how many partitions to write at once. */
export interface PartitionWriter {
  readonly instance: DuckDBInstance;
  /** At most max_active_partitions: each connection has one partition open at a time. */
  readonly parallel: number;
  /** The slot's DuckDB threads, restored once the partitions are written. */
  readonly threads: number;
  /**
   * Rows per Parquet row group, and so the size above which a file is sorted: DuckDB's default
   * unless a test lowers it to have small files sorted (DuckDB writes no group under 2048 rows).
   */
  readonly rowGroupRows?: number;
  readonly signal?: AbortSignal;
}

/**
 * Writes the accepted rows as Parquet files, each sorted by the primary timestamp (so row-group
 * statistics let queries skip), one COPY per partition over a rowid range of one sorted table.
 * DuckDB's PARTITION_BY writer does not keep an ORDER BY inside its files, hence the ranges,
 * except for many windows of one row group each (writeWindows). A COPY has a fixed cost, so
 * with many partitions several connections write at once; the sorted table is a plain (not
 * temp) table so they all see it.
 */
export async function writePartitions(chunk: ConvertedChunk, limits: PartitionLimits, dir: string, writer: PartitionWriter): Promise<WrittenPartition[]> {
  const { connection, transform } = chunk;
  const clustered = transform.sqlTransform === undefined ? await writeClustered(chunk, limits, dir, writer) : undefined;
  if (clustered) return clustered;
  const ts = quoteIdent(transform.primary);
  const columns = storedColumnList(transform);
  const sorted = `inlet_sorted_${randomBytes(6).toString('hex')}`;
  await connection.run(`CREATE TABLE ${sorted} AS SELECT ${columns} FROM ${chunk.accepted} ORDER BY ${ts}`);
  // Accounting is done and the sorted copy holds every accepted row: free the converted rows
  // now, so the COPYs run within the memory limit instead of spilling.
  await connection.run(`DROP TABLE IF EXISTS ${chunk.converted}`);
  try {
    const planned = await planOf(connection, transform, limits, sorted);
    const windows = planned.map((p) => ({ window: p.window, rows: p.rows, minTsMs: p.minTsMs, maxTsMs: p.maxTsMs, lo: p.first, hi: p.last }));
    const source: RowSource = (_, lo, hi) => `${sorted} WHERE rowid BETWEEN ${lo} AND ${hi}`;
    const batches = !planned.some((p) => p.split) && manySmall(windows, writer) ? await windowBatches(connection, windows) : undefined;
    const all = batches ? await writeWindowsWithRoom(connection, transform, source, batches, limits, dir, writer) : undefined;
    if (all) return all;
    return await writeEach(connection, writer, writer.parallel, planned.length, dir, async (c, i, file) => {
      const p = planned[i]!;
      await c.run(`COPY (SELECT * FROM ${sorted} WHERE rowid BETWEEN ${p.first} AND ${p.last}) TO ${quoteLiteral(file)} ${parquetOptions(writer)}`);
      return { rows: p.rows, ...(p.split ? await timeRange(c, sorted, p, ts) : { minTsMs: p.minTsMs, maxTsMs: p.maxTsMs }) };
    });
  } finally {
    await connection.run(`DROP TABLE IF EXISTS ${sorted}`);
  }
}

/**
 * Logs mostly arrive in time order: then each window's rows sit together in the converted
 * table, and each partition is one COPY of a rowid range, sorted on the way out, with no
 * sorted copy of the whole chunk (which doubles its memory and costs much of the write).
 * Answers undefined (nothing written) when the rows are too scattered for that to pay, or a
 * window must be split by the row cap: the caller then sorts a copy.
 */
async function writeClustered(chunk: ConvertedChunk, limits: PartitionLimits, dir: string, writer: PartitionWriter): Promise<WrittenPartition[] | undefined> {
  const { connection, transform } = chunk;
  const ts = quoteIdent(transform.primary);
  const width = limits.maxMinutes * 60_000;
  const windows = await windowsOf<{ lo: bigint; hi: bigint }>(connection, transform, limits, chunk.accepted, `min(${ROW_COLUMN}) AS lo, max(${ROW_COLUMN}) AS hi`);
  const accepted = windows.reduce((sum, w) => sum + Number(w.rows), 0);
  const scanned = windows.reduce((sum, w) => sum + Number(w.hi - w.lo + 1n), 0);
  // Every COPY scans its window's rowid range: all together at most twice the rows.
  if (windows.some((w) => Number(w.rows) > limits.maxRows) || scanned > 2 * accepted + 100_000) return undefined;
  const converted = chunk.converted;
  const columns = storedColumnList(transform);
  // Queries skip or read a row group whole, so a file of one row group gains nothing from
  // sorting, which costs much of the write (docs/benchmarks.md).
  const rowGroupRows = rowGroupRowsOf(writer);
  const sizes = windows.map((w) => ({ window: Number(w.w), rows: Number(w.rows), minTsMs: Number(w.min_ms), maxTsMs: Number(w.max_ms), lo: Number(w.lo), hi: Number(w.hi) }));
  const batches = manySmall(sizes, writer) ? await windowBatches(connection, sizes) : undefined;
  // Each partitioned COPY scans the row range of its windows, gaps between them included.
  if (batches && scannedByBatches(batches) > 2 * accepted + 100_000) return undefined;
  const source: RowSource = (c, lo, hi) => (c === connection ? `${chunk.accepted} WHERE ${ROW_COLUMN}` : `${converted} WHERE ${ACCEPTED_FILTER} AND rowid`) + ` BETWEEN ${lo} AND ${hi}`;
  const all = batches ? await writeWindowsWithRoom(connection, transform, source, batches, limits, dir, writer) : undefined;
  if (all) {
    await connection.run(`DROP TABLE IF EXISTS ${chunk.converted}`);
    return all;
  }
  // Other connections can read the converted rows only when they are in a shared table.
  const written = await writeEach(connection, writer, chunk.shared ? writer.parallel : 1, windows.length, dir, async (c, i, file) => {
    const { lo, hi, window, ...partition } = sizes[i]!;
    await c.run(
      `COPY (SELECT ${columns} FROM ${source(c, lo, hi)} AND ${windowSql(ts, width)} = ${window}${partition.rows > rowGroupRows ? ` ORDER BY ${ts}` : ''})
       TO ${quoteLiteral(file)} ${parquetOptions(writer)}`,
    );
    return partition;
  });
  await connection.run(`DROP TABLE IF EXISTS ${converted}`);
  return written;
}

/** From this many windows, small ones are written by DuckDB's partitioned writer (see writeWindows). */
const PARTITIONED_FROM = 100;
/**
 * At most this many windows, and this many rows, go to one partitioned COPY: the writer holds a
 * buffer for each window it has open, so one COPY of thousands of windows runs out of memory
 * where a few hundred statements of a hundred windows each do not (docs/benchmarks.md). A
 * hundred is also the number of files DuckDB's writer keeps open by default.
 */
const WINDOWS_PER_COPY = 100;
const ROWS_PER_COPY = 1_000_000;
/** How many times the rows of one partitioned COPY must fit in DuckDB's memory limit. */
const WINDOWS_MEMORY_FACTOR = 4;
/** Files writeWindows moves into place at once. */
const MOVES_AT_ONCE = 16;

/** A time window's rows: how many, their time range, and the range of row numbers they lie in (gaps allowed). */
interface WindowRows {
  readonly window: number;
  readonly rows: number;
  readonly minTsMs: number;
  readonly maxTsMs: number;
  readonly lo: number;
  readonly hi: number;
}

/**
 * The windows in time order, cut into the runs one partitioned COPY writes: the writer holds a
 * run's rows until it closes their files, and cannot spill them, so a run's rows take at most a
 * share of DuckDB's memory limit, reckoned at what the rows DuckDB holds (spilled or not) take a
 * row. Undefined where even one window's rows would not fit: the caller writes a COPY per
 * window, which spills.
 */
async function windowBatches(connection: DuckDBConnection, windows: readonly WindowRows[]): Promise<WindowRows[][] | undefined> {
  const memory = await memoryUse(connection);
  if (memory.limit === undefined) return undefined;
  const rowBytes =
    (memory.used + memory.spilled) /
    Math.max(
      1,
      windows.reduce((sum, w) => sum + w.rows, 0),
    );
  const perCopy = Math.min(ROWS_PER_COPY, Math.floor(memory.limit / WINDOWS_MEMORY_FACTOR / Math.max(1, rowBytes)));
  if (windows.some((w) => w.rows > perCopy)) return undefined;
  const batches: WindowRows[][] = [];
  let rows = 0;
  for (const w of windows) {
    const last = batches.at(-1);
    if (last && last.length < WINDOWS_PER_COPY && rows + w.rows <= perCopy) {
      last.push(w);
      rows += w.rows;
    } else {
      batches.push([w]);
      rows = w.rows;
    }
  }
  return batches;
}

/** The rows the batches' COPYs scan together: each its row range, from its first row to its last. */
function scannedByBatches(batches: readonly (readonly WindowRows[])[]): number {
  return batches.reduce((sum, b) => sum + Math.max(...b.map((w) => w.hi)) - Math.min(...b.map((w) => w.lo)) + 1, 0);
}

/** Windows for writeWindows: many, each of one row group at most (so its file needs no sort). */
const manySmall = (windows: readonly WindowRows[], writer: PartitionWriter) => windows.length >= PARTITIONED_FROM && windows.every((w) => w.rows <= rowGroupRowsOf(writer));

/**
 * writeWindows, unless DuckDB ran out of memory all the same (nothing is left written): the
 * caller then writes a COPY per window, which spills.
 */
async function writeWindowsWithRoom(...args: Parameters<typeof writeWindows>): Promise<WrittenPartition[] | undefined> {
  try {
    return await writeWindows(...args);
  } catch (err) {
    if (isOutOfMemory(err)) return undefined;
    throw err;
  }
}

/** Where the rows to write are read: `<relation> WHERE <condition>`, the rows numbered lo to hi (WindowRows' ranges) as the connection sees them. */
type RowSource = (c: DuckDBConnection, lo: number, hi: number) => string;

/**
 * Writes the windows with DuckDB's partitioned writer, a run of them per COPY: a COPY per window
 * scans the chunk's rows again, a fixed cost that dominates when windows are many and small. The
 * writer orders nothing, so only windows of one row group at most come here. It may close a
 * window's file and open another for its later rows: such a window's files are partitions of
 * their own, measured from their contents.
 */
async function writeWindows(
  connection: DuckDBConnection,
  transform: Transform,
  source: RowSource,
  batches: readonly (readonly WindowRows[])[],
  limits: PartitionLimits,
  dir: string,
  writer: PartitionWriter,
): Promise<WrittenPartition[]> {
  const ts = quoteIdent(transform.primary);
  const columns = storedColumnList(transform);
  const staging = path.join(dir, `windows-${randomBytes(6).toString('hex')}`);
  await mkdir(staging, { recursive: true });
  try {
    const windows = batches.flat();
    const files: string[][] = [];
    // One after another on this connection: several at once took as long, with more CPU (docs/benchmarks.md).
    for (const [k, batch] of batches.entries()) {
      const rows = source(connection, Math.min(...batch.map((w) => w.lo)), Math.max(...batch.map((w) => w.hi)));
      const batchDir = path.join(staging, String(k));
      await connection.run(
        `COPY (SELECT * FROM (SELECT ${columns}, ${windowSql(ts, limits.maxMinutes * 60_000)} AS ${WINDOW_COLUMN} FROM ${rows})
               WHERE ${WINDOW_COLUMN} BETWEEN ${batch[0]!.window} AND ${batch.at(-1)!.window})
         TO ${quoteLiteral(batchDir)} ${parquetOptions(writer, `PARTITION_BY (${WINDOW_COLUMN})`)}`,
      );
      const made = batch.map(async (w) => {
        const windowDir = path.join(batchDir, `${WINDOW_COLUMN}=${w.window}`);
        return (await readdir(windowDir)).sort().map((name) => path.join(windowDir, name));
      });
      files.push(...(await Promise.all(made)));
    }
    const split = files.flatMap((f) => (f.length > 1 ? f : []));
    const measured = new Map<string, Omit<WrittenPartition, 'file' | 'bytes'>>();
    if (split.length > 0) {
      const rows = await queryRows<{ filename: string; rows: bigint; min_ms: bigint; max_ms: bigint }>(
        connection,
        `SELECT filename, count(*) AS rows, epoch_ms(min(${ts})) AS min_ms, epoch_ms(max(${ts})) AS max_ms
         FROM read_parquet([${split.map(quoteLiteral).join(', ')}], filename = true) GROUP BY filename`,
      );
      for (const r of rows) measured.set(r.filename, { rows: Number(r.rows), minTsMs: Number(r.min_ms), maxTsMs: Number(r.max_ms) });
    }
    const partitions = windows.flatMap((w, i) =>
      files[i]!.map((made) => {
        const partition = files[i]!.length > 1 ? measured.get(made) : { rows: w.rows, minTsMs: w.minTsMs, maxTsMs: w.maxTsMs };
        if (!partition) throw new Error(`the partitioned write left ${made} unread`);
        return { made, alone: files[i]!.length === 1, ...partition };
      }),
    );
    // Hundreds of files: moved a few at a time rather than one after another, each window's
    // directory removed as it empties (one recursive removal of thousands is slower).
    const moved = await mapLimit(partitions, MOVES_AT_ONCE, async ({ made, alone, ...partition }, k) => {
      const file = path.join(dir, `part_${String(k).padStart(5, '0')}.parquet`);
      await rename(made, file);
      if (alone) await rmdir(path.dirname(made));
      return { file, bytes: (await stat(file)).size, ...partition };
    });
    return moved.map((m) => {
      if (m.status === 'rejected') throw m.reason;
      return m.value;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * Writes `count` partition files (part_00000.parquet, ... in `dir`) with `writeOne`, on this
 * connection and up to `parallel - 1` more of the slot's DuckDB: a partition's COPY runs on one
 * thread, so several at once keep the cores busy.
 */
async function writeEach(
  connection: DuckDBConnection,
  writer: PartitionWriter,
  parallel: number,
  count: number,
  dir: string,
  writeOne: (c: DuckDBConnection, i: number, file: string) => Promise<Omit<WrittenPartition, 'file' | 'bytes'>>,
): Promise<WrittenPartition[]> {
  if (count === 0) return [];
  await mkdir(dir, { recursive: true });
  const written: WrittenPartition[] = new Array(count);
  let next = 0;
  const writeSome = async (c: DuckDBConnection) => {
    while (next < count) {
      const i = next++;
      const file = path.join(dir, `part_${String(i).padStart(5, '0')}.parquet`);
      const partition = await writeOne(c, i, file);
      written[i] = { file, bytes: (await stat(file)).size, ...partition };
    }
  };
  const extra = Math.min(parallel, count) - 1;
  // Each COPY of a partition runs on its own connection's thread: DuckDB's worker threads on
  // top only add hand-offs, more CPU for the same files (docs/benchmarks.md).
  if (extra > 0) await connection.run('SET threads = 1');
  try {
    await Promise.all([writeSome(connection), ...Array.from({ length: extra }, () => withConnection(writer.instance, writer.signal, writeSome))]);
  } finally {
    // On a connection of its own: this one may have been interrupted by a cancel.
    if (extra > 0) await withConnection(writer.instance, undefined, (c) => c.run(`SET threads = ${writer.threads}`));
  }
  return written;
}

/** The stored columns, quoted, as a SELECT list: what every partition file holds. */
const storedColumnList = (transform: Transform) =>
  storedColumns(transform)
    .map((c) => quoteIdent(c.name))
    .join(', ');

const rowGroupRowsOf = (writer: PartitionWriter) => writer.rowGroupRows ?? ROW_GROUP_ROWS;
const parquetOptions = (writer: PartitionWriter, more?: string) => `(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${rowGroupRowsOf(writer)}${more ? `, ${more}` : ''})`;

/** A chunk of a split window spans less than the window: measure it. */
async function timeRange(connection: DuckDBConnection, table: string, p: PlannedPartition, ts: string): Promise<{ minTsMs: number; maxTsMs: number }> {
  const [r] = await queryRows<{ min_ms: bigint; max_ms: bigint }>(connection, `SELECT epoch_ms(min(${ts})) AS min_ms, epoch_ms(max(${ts})) AS max_ms FROM ${table} WHERE rowid BETWEEN ${p.first} AND ${p.last}`);
  return { minTsMs: Number(r!.min_ms), maxTsMs: Number(r!.max_ms) };
}
