import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { startLocalS3 } from '../../test/helpers/s3.js';
import { benchTable, jobBody, runJob, startBenchInlet } from '../lib/inlet.js';
import { cpuSecondsTree, median } from '../lib/measure.js';
import { duckdbAlone } from '../lib/run-alone.js';
import { BASELINE_CONVERSIONS, BASELINE_FILTER, generateCsvGz, weblogTransform } from '../lib/weblogs.js';
import type { BenchOptions, BenchRow } from '../report.js';

const CSV_COLUMNS = `{'timestamp': 'VARCHAR', 'host': 'VARCHAR', 'method': 'VARCHAR', 'path': 'VARCHAR', 'status': 'VARCHAR', 'bytes': 'VARCHAR', 'latency_ms': 'VARCHAR', 'user_agent': 'VARCHAR'}`;

/** Runs of each side, alternated. */
const RUNS = 3;

/** Big files: 5 M rows in 10 CSV.gz files (500 k with --quick). Target: throughput ≥ 0.85 × DuckDB alone. */
export async function bigFiles(options: BenchOptions, jobSettings: Record<string, unknown> = {}): Promise<BenchRow[]> {
  const rowsPerFile = options.quick ? 50_000 : 500_000;
  const data = await generateCsvGz(path.join(options.workDir, 'big'), 10, rowsPerFile);
  const inputBytes = data.files.reduce((sum, f) => sum + statSync(f).size, 0);

  const out = path.join(options.workDir, 'big-baseline.parquet');
  const files = data.files.map((f) => `'${f}'`).join(', ');
  const runBaseline = () =>
    duckdbAlone(
      `COPY (SELECT ${BASELINE_CONVERSIONS} FROM read_csv([${files}], header=true, columns=${CSV_COLUMNS}, ignore_errors=true) ` +
        `WHERE ${BASELINE_FILTER} ORDER BY timestamp) TO '${out}' (FORMAT parquet, COMPRESSION zstd)`,
    );

  const s3 = await startLocalS3();
  try {
    await s3.createBucket('bench-big');
    for (const file of data.files) await s3.put('bench-big', `logs/${path.basename(file)}`, readFileSync(file));
    const inlet = await startBenchInlet(options.workDir, s3.endpoint);
    try {
      const jobs = await benchTable(inlet.api, [weblogTransform('csv')]);
      // One run of each varies by ±30 % on a shared 2-core machine: alternate them, take medians.
      const baselines: Awaited<ReturnType<typeof runBaseline>>[] = [];
      const inlets: (Awaited<ReturnType<typeof runJob>> & { cpuSeconds: number; s3CpuSeconds: number })[] = [];
      for (let run = 0; run < RUNS; run++) {
        baselines.push(await runBaseline());
        // CPU of the Inlet process tree, and of s3rver serving it the objects on the same cores.
        const cpuBefore = cpuSecondsTree(inlet.pid);
        const s3Before = cpuSecondsTree(s3.pid);
        const result = await runJob(inlet.api, jobs, jobBody(`big files ${run + 1}`, 's3://bench-big/logs/', 'weblog_csv', jobSettings));
        inlets.push({ ...result, cpuSeconds: cpuSecondsTree(inlet.pid) - cpuBefore, s3CpuSeconds: cpuSecondsTree(s3.pid) - s3Before });
        const written = inlets.at(-1)!.job.details.rows.written as number;
        if (written !== data.rows - data.badRows) throw new Error(`big files: wrote ${written} rows, expected ${data.rows - data.badRows}`);
      }
      const baseline = baselines.find((b) => b.seconds === median(baselines.map((x) => x.seconds)))!;
      const { job, seconds, cpuSeconds, s3CpuSeconds } = inlets.find((r) => r.seconds === median(inlets.map((x) => x.seconds)))!;
      const spread = (values: number[]) => `${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)} s`;
      const ratio = baseline.seconds / seconds;
      return [
        {
          scenario: 'big files',
          variant: 'baseline: DuckDB alone',
          rows: data.rows,
          inputBytes,
          seconds: baseline.seconds,
          peakRssBytes: baseline.peakRssBytes,
          notes: `local files, one COPY; median of ${RUNS} (${spread(baselines.map((b) => b.seconds))}); ${baseline.cpuSeconds.toFixed(1)} s of CPU`,
        },
        {
          scenario: 'big files',
          variant: 'inlet',
          rows: data.rows,
          inputBytes,
          seconds,
          peakRssBytes: inlet.peakRss(),
          ratio,
          target: 'throughput ≥ 0.85 × baseline',
          met: ratio >= 0.85,
          notes: `via S3, ${job.details.status_detail.tasks.INDEX.DONE} INDEX tasks, ${job.details.rows.rejected} rows rejected; median of ${RUNS} (${spread(inlets.map((r) => r.seconds))}), alternating with the baseline; ${cpuSeconds.toFixed(1)} s of CPU, s3rver ${s3CpuSeconds.toFixed(1)} s`,
        },
      ];
    } finally {
      await inlet.stop();
    }
  } finally {
    await s3.stop();
  }
}
