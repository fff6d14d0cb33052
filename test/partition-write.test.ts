import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { openDuckDB } from '../src/duckdb/instances.js';
import { queryRows, withConnection } from '../src/duckdb/engine.js';
import { convertFiles } from '../src/ingest/convert.js';
import { writePartitions } from '../src/ingest/partition.js';
import { PartitionLimitError } from '../src/errors.js';
import { readGroups } from '../src/ingest/read-groups.js';
import { validateTransform } from '../src/transform/validate.js';
import { CSV_TRANSFORM } from './helpers/data.js';

const dir = mkdtempSync(path.join(tmpdir(), 'inlet-partition-write-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const csvTransform = validateTransform(CSV_TRANSFORM.type, CSV_TRANSFORM.settings).transform;
const datetime64Transform = validateTransform(CSV_TRANSFORM.type, {
  ...CSV_TRANSFORM.settings,
  output_columns: CSV_TRANSFORM.settings.output_columns.map((c) => (c.name === 'timestamp' ? { ...c, datatype: { ...c.datatype, type: 'datetime64' } } : c)),
}).transform;
const START = Date.UTC(2024, 0, 1);
const line = (ms: number, i: number) => `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')},h${i % 3},200,${i},1.5,true`;

interface Written {
  /** Rows in all, one every `stepMs` from START (bad rows among them): two hours of one a minute unless set. */
  readonly count?: number;
  readonly stepMs?: number;
  readonly maxRows?: number;
  /** Partitions the rows may make (unbounded unless set). */
  readonly maxPartitions?: number;
  readonly shared?: boolean;
  /**
   * Files over `rowGroupRows` rows are sorted: 4 makes every window's file one to sort (DuckDB
   * itself writes no row group smaller than 2048 rows); null leaves DuckDB's 122,880.
   */
  readonly rowGroupRows?: number | null;
  /** DuckDB's memory_limit (256MB unless set). */
  readonly memoryLimit?: string;
  /** The first row's time (START unless set). */
  readonly start?: number;
  /** The primary timestamp is a datetime64 (which reaches back to 1925) instead of a datetime. */
  readonly datetime64?: boolean;
  /**
   * DuckDB's partitioned writer keeps at most this many files open (its default: 100), and hands
   * them their rows every this many rows (its default: 524,288).
   */
  readonly partitionedWriter?: { readonly openFiles: number; readonly flushRows: number };
  /** Collects the COPY statements the write ran, on every connection. */
  readonly copies?: string[];
}

/** Writes the rows, in the order `order` gives the row numbers, as partitions; answers each file's contents beside its partition. */
async function writeRows(name: string, order: (rows: number[]) => number[], options: Written = {}) {
  const { count = 120, stepMs = 60_000, maxRows = 1_000_000, maxPartitions = 1_000_000, shared = false, rowGroupRows = 4, partitionedWriter, start = START, datetime64 = false, memoryLimit = '256MB', copies } = options;
  const rows = order(Array.from({ length: count }, (_, i) => i));
  const file = path.join(dir, `${name}.csv`);
  writeFileSync(file, ['timestamp,host,status,bytes,latency,cached', ...rows.map((i) => (i % 17 === 5 ? 'garbage,h,x,1,1,1' : line(start + i * stepMs, i)))].join('\n') + '\n');
  const transform = datetime64 ? datetime64Transform : csvTransform;
  const opened = await openDuckDB({ kind: 'worker-slot', threads: 2, memoryLimit, tempDirectory: path.join(dir, 'spill'), allowedDirectories: [dir] });
  const engine = copies ? countingCopies(opened, copies) : opened;
  try {
    return await withConnection(engine, undefined, async (c) => {
      if (partitionedWriter) {
        await c.run(`SET partitioned_write_max_open_files = ${partitionedWriter.openFiles}`);
        await c.run(`SET partitioned_write_flush_threshold = ${partitionedWriter.flushRows}`);
      }
      const chunk = await convertFiles({ connection: c, transform, groups: await readGroups(transform, [file]), fileCount: 1, shared });
      const written = await writePartitions(chunk, { maxRows, maxMinutes: 15, maxPartitions }, path.join(dir, `${name}-out`), { instance: engine, parallel: 2, threads: 2, rowGroupRows: rowGroupRows ?? undefined });
      const [threads] = await queryRows<{ n: bigint }>(c, "SELECT current_setting('threads') AS n");
      assert.equal(Number(threads!.n), 2, 'the slot gets its threads back after the single-threaded writes');
      const checked = [];
      for (const p of written) {
        const [r] = await queryRows<{ n: bigint; descents: bigint; lo: number; hi: number; groups: bigint }>(
          c,
          `SELECT count(*) AS n, count(*) FILTER (WHERE timestamp < prev) AS descents, epoch_ms(min(timestamp)) AS lo, epoch_ms(max(timestamp)) AS hi,
                  (SELECT count(DISTINCT row_group_id) FROM parquet_metadata('${p.file}')) AS groups
           FROM (SELECT timestamp, lag(timestamp) OVER (ORDER BY file_row_number) AS prev FROM read_parquet('${p.file}', file_row_number = true))`,
        );
        checked.push({ rows: Number(r!.n), descents: Number(r!.descents), lo: Number(r!.lo), hi: Number(r!.hi), groups: Number(r!.groups), p });
      }
      await chunk.drop();
      const [left] = await queryRows<{ n: bigint }>(c, 'SELECT count(*) AS n FROM duckdb_tables() WHERE NOT temporary');
      assert.equal(left!.n, 0n, 'the shared converted table is dropped');
      return checked;
    });
  } finally {
    opened.closeSync();
  }
}

/** The instance, its connections logging each COPY they run into `copies`. */
function countingCopies(instance: DuckDBInstance, copies: string[]): DuckDBInstance {
  const connect = instance.connect.bind(instance);
  instance.connect = async () => {
    const c = await connect();
    const run = c.run.bind(c);
    c.run = ((sql: string, ...rest: unknown[]) => {
      if (sql.trimStart().startsWith('COPY')) copies.push(sql);
      return (run as (...a: unknown[]) => ReturnType<typeof run>)(sql, ...rest);
    }) as typeof c.run;
    return c;
  };
  return instance;
}

function assertPartitions(checked: Awaited<ReturnType<typeof writeRows>>, maxRows: number, sorted = true, count = 120) {
  const good = Array.from({ length: count }, (_, i) => i).filter((i) => i % 17 !== 5).length;
  assert.equal(
    checked.reduce((sum, c) => sum + c.rows, 0),
    good,
  );
  for (const c of checked) {
    if (sorted) assert.equal(c.descents, 0, `${c.p.file} is not sorted`);
    assert.equal(c.rows, c.p.rows);
    assert.ok(c.rows <= maxRows);
    assert.deepEqual([c.lo, c.hi], [c.p.minTsMs, c.p.maxTsMs]);
    assert.equal(Math.floor(c.lo / 900_000), Math.floor(c.hi / 900_000), 'one 15-minute window per file');
  }
}

describe('writing partitions', () => {
  test('rows in time order, or reversed within their window, become one sorted file per window', async () => {
    const inOrder = await writeRows('in-order', (rows) => rows);
    assert.equal(inOrder.length, 8);
    assertPartitions(inOrder, Infinity);
    const reversed = await writeRows('reversed', (rows) => rows.toReversed());
    assert.equal(reversed.length, 8);
    assertPartitions(reversed, Infinity);
  });

  test('a file of one row group keeps the order its rows were read in (the other tests check files of several are sorted)', async () => {
    const oneGroup = await writeRows('one-group', (rows) => rows.toReversed(), { rowGroupRows: null });
    assert.equal(oneGroup.length, 8);
    assertPartitions(oneGroup, Infinity, false);
    assert.ok(
      oneGroup.every((c) => c.groups === 1 && c.descents === c.rows - 1),
      'reversed rows stay reversed',
    );
  });

  test('from a shared converted table, several connections write the partitions, with the same result', async () => {
    const shared = await writeRows('shared', (rows) => rows.toReversed(), { shared: true });
    assert.equal(shared.length, 8);
    assertPartitions(shared, Infinity);
    const scattered = await writeRows('shared-scattered', (rows) => rows.map((_, k) => (k * 7) % 120), { shared: true });
    assertPartitions(scattered, Infinity);
  });

  test('scattered rows (every window everywhere) are sorted first, with the same result', async () => {
    const scattered = await writeRows('scattered', (rows) => rows.map((_, k) => (k * 7) % 120));
    assert.equal(scattered.length, 8);
    assertPartitions(scattered, Infinity);
  });

  test('many small windows are written by the partitioned writer, a hundred windows a statement, one file each', async () => {
    // 240 rows two to a window: 120 windows, each of one row group.
    const many = await writeRows('many', (rows) => rows, { count: 240, stepMs: 450_000 });
    assert.equal(many.length, 120);
    assertPartitions(many, Infinity, false, 240);
    const out = path.join(dir, 'many-out');
    assert.deepEqual(
      many.map((c) => c.p.file),
      many.map((_, i) => path.join(out, `part_${String(i).padStart(5, '0')}.parquet`)),
      'the files are named in time order',
    );
    assert.deepEqual(
      readdirSync(out).sort(),
      many.map((c) => path.basename(c.p.file)),
      'nothing else is left beside them',
    );
    // Scattered (each window's rows all over the chunk), they are sorted first, then written the same way.
    const scattered = await writeRows('many-scattered', (rows) => rows.map((_, k) => (k * 7) % 2400), { count: 2400, stepMs: 45_000, rowGroupRows: 32 });
    assert.equal(scattered.length, 120);
    assertPartitions(scattered, Infinity, false, 2400);
  });

  test('a small window whose rows the partitioned writer put in two files is two partitions, each measured', async () => {
    // 120 windows of 20 rows, in two runs of 60: each run has the first half of each of its
    // windows' rows, then the second half. DuckDB hands the writer 2,048 rows at a time, and
    // with at most 10 files open, the windows whose halves fall in different hands get two files.
    const halves = (rows: number[]) =>
      [0, 1].flatMap((run) => {
        const ofRun = rows.filter((i) => Math.floor(i / 1200) === run);
        return [...ofRun.filter((i) => i % 20 < 10), ...ofRun.filter((i) => i % 20 >= 10)];
      });
    const revisited = await writeRows('revisited', halves, { count: 2400, stepMs: 45_000, rowGroupRows: 20, partitionedWriter: { openFiles: 10, flushRows: 20 } });
    assert.ok(revisited.length > 120, `${revisited.length} files: no window was split, so this test checks nothing`);
    assertPartitions(revisited, Infinity, false, 2400);
  });

  test('many small windows where DuckDB has little memory are all written, each in its file', async () => {
    // 400,000 rows in 150 windows with 64 MB for DuckDB: its rows take more than a quarter of
    // that and some are spilled, so the partitioned writer, which cannot spill what it holds,
    // is passed over for a COPY per window (duckdb-instances.test.ts checks what memoryUse reads).
    const tight = await writeRows('many-tight', (rows) => rows, { count: 400_000, stepMs: 337, rowGroupRows: 122_880, memoryLimit: '64MB' });
    assert.equal(tight.length, 150);
    assertPartitions(tight, Infinity, false, 400_000);
  });

  test('thousands of small windows in little memory are written a run of windows per statement, one file each', async () => {
    // 6,000 rows two to a window in 64 MB: one partitioned COPY of 3,000 windows runs out of
    // memory (the writer holds a buffer a window), and a COPY per window costs a scan each.
    const copies: string[] = [];
    const sparse = await writeRows('sparse', (rows) => rows, { count: 6_000, stepMs: 450_000, rowGroupRows: 122_880, memoryLimit: '64MB', copies });
    assert.equal(sparse.length, 3_000);
    assertPartitions(sparse, Infinity, false, 6_000);
    assert.ok(copies.length <= 31, `${copies.length} COPY statements for 3,000 windows`);
    assert.ok(
      copies.every((sql) => sql.includes('PARTITION_BY')),
      'each statement writes many windows',
    );
    // Scattered, they are sorted first, then written the same way.
    copies.length = 0;
    const scattered = await writeRows('sparse-scattered', (rows) => rows.map((_, k) => (k * 7) % 6_000), { count: 6_000, stepMs: 450_000, rowGroupRows: 122_880, memoryLimit: '64MB', copies });
    assert.equal(scattered.length, 3_000);
    assertPartitions(scattered, Infinity, false, 6_000);
    assert.ok(copies.length <= 31, `${copies.length} COPY statements for 3,000 scattered windows`);
  });

  test('before 1970, the windows are aligned to the epoch as after it: none spans it', async () => {
    // 23:30 to 00:30 around 1970-01-01: four windows, two before the epoch, in time order and
    // scattered (sorted first); then 120 windows of two rows around it (the partitioned writer).
    const hour = { start: -30 * 60_000, datetime64: true, count: 60 };
    const inOrder = await writeRows('before-1970', (rows) => rows, hour);
    const scattered = await writeRows('before-1970-scattered', (rows) => rows.map((_, k) => (k * 7) % 60), hour);
    for (const checked of [inOrder, scattered]) {
      assert.equal(checked.length, 4);
      assertPartitions(checked, Infinity, true, 60);
    }
    const many = await writeRows('before-1970-many', (rows) => rows, { start: -60 * 900_000, datetime64: true, count: 240, stepMs: 450_000 });
    assert.equal(many.length, 120);
    assertPartitions(many, Infinity, false, 240);
  });

  test('rows that would make more partitions than allowed fail before any is written, saying why and what to raise', async () => {
    // Two hours of a row a minute: 8 windows of 15 minutes; the bound is inclusive.
    assert.equal((await writeRows('bounded-exactly', (rows) => rows, { maxPartitions: 8 })).length, 8);
    const refused = (cause: RegExp) => (err: unknown) => {
      assert.ok(err instanceof PartitionLimitError, String(err));
      assert.match(err.message, cause);
      assert.match(err.message, /\(timestamp from 2024-01-01T00:00:00\.000Z to 2024-01-01T01:59:00\.000Z\)/);
      assert.match(err.message, /Raise settings\.max_minutes_per_partition or settings\.max_rows_per_partition/);
      return true;
    };
    await assert.rejects(
      writeRows('bounded-windows', (rows) => rows, { maxPartitions: 7 }),
      refused(/fall in 8 windows of max_minutes_per_partition=15 minutes: more than the 7 partitions/),
    );
    // Scattered rows (written from a sorted copy) and windows split by the row cap (14 or 15 good rows each) are counted alike.
    await assert.rejects(
      writeRows('bounded-scattered', (rows) => rows.reverse(), { maxPartitions: 7 }),
      refused(/fall in 8 windows/),
    );
    await assert.rejects(
      writeRows('bounded-rows', (rows) => rows, { maxRows: 6, maxPartitions: 23 }),
      refused(/fall in 8 windows, split at max_rows_per_partition=6 rows into 24 partitions: more than the 23/),
    );
    for (const name of ['bounded-windows', 'bounded-scattered', 'bounded-rows']) assert.equal(existsSync(path.join(dir, `${name}-out`)), false, `${name} wrote nothing`);
  });

  test('a window over the row cap is split into sorted files of at most that many rows', async () => {
    const capped = await writeRows('capped', (rows) => rows, { maxRows: 6 });
    assert.ok(capped.length > 16);
    assertPartitions(capped, 6);
  });
});

test('two converted chunks on one connection keep apart, and each drop removes its own tables', async () => {
  const file = path.join(dir, 'two-chunks.csv');
  writeFileSync(file, ['timestamp,host,status,bytes,latency,cached', line(START, 1), 'garbage,h,x,1,1,1', line(START + 60_000, 2)].join('\n') + '\n');
  const engine = await openDuckDB({ kind: 'worker-slot', threads: 1, memoryLimit: '256MB', tempDirectory: path.join(dir, 'spill'), allowedDirectories: [dir] });
  try {
    await withConnection(engine, undefined, async (c) => {
      const inlet = async () => (await queryRows<{ n: bigint }>(c, "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name LIKE 'inlet_%'"))[0]!.n;
      const first = await convertFiles({ connection: c, transform: csvTransform, groups: await readGroups(csvTransform, [file]), fileCount: 1 });
      const second = await convertFiles({ connection: c, transform: csvTransform, groups: await readGroups(csvTransform, [file]), fileCount: 1, shared: true });
      assert.notEqual(first.converted, second.converted);
      for (const chunk of [first, second]) {
        assert.deepEqual(
          chunk.accounts.map((a) => [a.rowsRead, a.rowsWritten, a.rowsRejected]),
          [[3, 2, 1]],
        );
        const [accepted] = await queryRows<{ n: bigint }>(c, `SELECT count(*) AS n FROM ${chunk.accepted}`);
        assert.equal(accepted!.n, 2n);
      }
      await first.drop();
      assert.ok((await inlet()) > 0n, 'the second chunk keeps its tables');
      const [still] = await queryRows<{ n: bigint }>(c, `SELECT count(*) AS n FROM ${second.accepted}`);
      assert.equal(still!.n, 2n);
      await second.drop();
      assert.equal(await inlet(), 0n);
    });
  } finally {
    engine.closeSync();
  }
});
