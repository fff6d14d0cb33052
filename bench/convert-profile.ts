// npx tsx bench/convert-profile.ts [--shape rejects] [--rows 200000] [--runs 5] [--no-keep] [--threads 2] [--memory 512MB] [--write]:
// converts one matrix shape's files in this process (readGroups, convertFiles, then writeQuarantine), as an
// INDEX task does without the fetch (and, with --write, writes its partitions as the task does),
// and prints each run's milliseconds and the slowest DuckDB statements of the last run on the
// task's own connection (whole, with FULL_SQL=1): where a conversion's time goes, statement by statement.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { DuckDBConnection } from '@duckdb/node-api';
import { openDuckDB } from '../src/duckdb/instances.js';
import { withConnection } from '../src/duckdb/engine.js';
import { convertChunk } from '../src/ingest/convert-chunk.js';
import { writePartitions } from '../src/ingest/partition.js';
import { writeQuarantine } from '../src/ingest/quarantine.js';
import { readGroups } from '../src/ingest/read-groups.js';
import { checkSqlTransform } from '../src/transform/sql-check.js';
import { validateTransform } from '../src/transform/validate.js';
import { generateShape, SHAPES, shapeTransform } from './lib/shapes.js';

const { values } = parseArgs({
  options: {
    shape: { type: 'string', default: 'rejects' },
    rows: { type: 'string', default: '200000' },
    runs: { type: 'string', default: '5' },
    'no-keep': { type: 'boolean', default: false },
    threads: { type: 'string', default: '2' },
    memory: { type: 'string', default: '512MB' },
    write: { type: 'boolean', default: false },
  },
});
const shape = SHAPES.find((s) => s.slug === values.shape);
if (!shape) throw new Error(`unknown --shape ${values.shape}: use ${SHAPES.map((s) => s.slug).join(', ')}`);

const dir = mkdtempSync(path.join(process.env.INLET_BENCH_DIR ?? tmpdir(), 'inlet-convert-profile-'));
try {
  const data = await generateShape(shape, path.join(dir, 'data'), Number(values.rows));
  // An INDEX task converts what it fetched, decompressed.
  const files = data.files.map((file) => {
    const plain = file.replace(/\.(gz|zst)$/, '');
    execFileSync('sh', ['-c', `gunzip -c '${file}' > '${plain}'`]);
    return plain;
  });
  const st = shapeTransform(shape);
  const transform = await checkSqlTransform(validateTransform(st.type, { ...st.settings, compression: 'none' }).transform);
  mkdirSync(path.join(dir, 'spill'));
  const engine = await openDuckDB({ kind: 'worker-slot', threads: Number(values.threads), memoryLimit: values.memory!, tempDirectory: path.join(dir, 'spill'), allowedDirectories: [dir] });
  try {
    for (let run = 1; run <= Number(values.runs); run++) {
      await withConnection(engine, undefined, async (connection) => {
        const statements = timeStatements(connection);
        const looking = performance.now();
        // As an INDEX task reads: strictly first, its records judged only if DuckDB refuses one.
        const lines = { maxLineBytes: 1 << 20, copyOf: (j: number) => `${files[j]}.lines` };
        const groups = await readGroups(transform, files, lines, { judge: false });
        const start = performance.now();
        // DuckDB's threads run in this process: its CPU is the statements' CPU.
        const cpuStart = process.cpuUsage();
        const options = { connection, transform, groups, fileCount: files.length, shared: true, keepRejects: values['no-keep'] ? undefined : 1_000_000 };
        const { chunk } = await convertChunk(options, { lines, evenOf: (j) => `${files[j]}.even` });
        const converted = performance.now();
        const cpuConverted = process.cpuUsage();
        const kept = await writeQuarantine(chunk, { jobId: 'profile', urls: files, file: path.join(dir, `rejects-${run}.parquet`) });
        const done = performance.now();
        // As an INDEX task writes: the job's default window and row cap, four writers.
        const written = values.write
          ? await writePartitions(chunk, { maxRows: 33_554_432, maxMinutes: 15, maxPartitions: 100_000 }, path.join(dir, `parts-${run}`), { instance: engine, threads: Number(values.threads), parallel: 4 })
          : [];
        const wrote = performance.now();
        const cpuWrote = process.cpuUsage();
        await chunk.drop();
        rmSync(path.join(dir, `parts-${run}`), { recursive: true, force: true });
        const rejected = chunk.accounts.reduce((sum, a) => sum + a.rowsRejected, 0);
        const cpuMs = (from: NodeJS.CpuUsage, to: NodeJS.CpuUsage) => ((to.user + to.system - from.user - from.system) / 1000).toFixed(0);
        const write = values.write ? `, write ${(wrote - done).toFixed(0)} ms (${written.length} partitions; convert to write ${cpuMs(cpuConverted, cpuWrote)} ms of CPU)` : '';
        console.log(
          `run ${run}: read groups ${(start - looking).toFixed(0)} ms, convert ${(converted - start).toFixed(0)} ms (${cpuMs(cpuStart, cpuConverted)} ms of CPU), quarantine ${(done - converted).toFixed(0)} ms (${rejected} rejected, ${kept?.rows ?? 0} kept)${write}`,
        );
        if (run === Number(values.runs)) for (const [sql, ms] of statements.sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${ms.toFixed(0).padStart(6)} ms  ${sql}`);
      });
    }
  } finally {
    engine.closeSync();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** Wraps the connection's statements with a clock; answers the list they are logged into. */
function timeStatements(connection: DuckDBConnection): [string, number][] {
  const log: [string, number][] = [];
  const timed =
    <T>(run: (sql: string) => Promise<T>) =>
    async (sql: string): Promise<T> => {
      const start = performance.now();
      try {
        return await run(sql);
      } finally {
        log.push([process.env.FULL_SQL ? sql : sql.replace(/\s+/g, ' ').slice(0, 100), performance.now() - start]);
      }
    };
  // Queries that read rows run through run() too.
  connection.run = timed(connection.run.bind(connection)) as typeof connection.run;
  return log;
}
