import { statSync } from 'node:fs';
import path from 'node:path';
import { startLocalS3 } from '../../test/helpers/s3.js';
import { fetchFloor, INLET_FETCHES_IN_FLIGHT } from '../lib/fetch-floor.js';
import { benchTable, jobBody, runJob, startBenchInlet } from '../lib/inlet.js';
import { cpuSecondsTree, median } from '../lib/measure.js';
import { duckdbAlone } from '../lib/run-alone.js';
import { seedObject } from '../lib/seed-s3.js';
import { BASELINE_CONVERSIONS, BASELINE_FILTER, generateSmallFiles, weblogTransform } from '../lib/weblogs.js';
import type { BenchOptions, BenchRow } from '../report.js';

const JSON_COLUMNS = `{'timestamp': 'VARCHAR', 'host': 'VARCHAR', 'method': 'VARCHAR', 'path': 'VARCHAR', 'status': 'VARCHAR', 'bytes': 'VARCHAR', 'latency_ms': 'VARCHAR', 'user_agent': 'VARCHAR'}`;

/** Runs of each side, alternated. */
const RUNS = 3;

/**
 * Small files: 20,000 objects of 5 KB on average (2,000 with --quick), NDJSON and then the same
 * rows as CSV. Target: ≥ 0.5 × the fetch floor, a loop that only GETs the same objects from the
 * same s3rver with Inlet's client settings and concurrency. s3rver spends milliseconds of CPU per
 * GET on the cores Inlet uses, so DuckDB's glob over local files (still shown) measures the S3
 * server more than Inlet.
 */
export async function smallFiles(options: BenchOptions): Promise<BenchRow[]> {
  const count = options.quick ? 2_000 : 20_000;
  const dir = path.join(options.workDir, 'small');
  const data = await generateSmallFiles(dir, count);
  const csvData = await generateSmallFiles(path.join(options.workDir, 'small-csv'), count, 'csv');
  const inputBytes = data.files.reduce((sum, f) => sum + statSync(f).size, 0);
  const expected = data.rows - data.badRows;

  const out = path.join(options.workDir, 'small-baseline.parquet');
  const glob = await duckdbAlone(
    `COPY (SELECT ${BASELINE_CONVERSIONS} FROM read_json('${dir}/events/*/*.json', format='newline_delimited', columns=${JSON_COLUMNS}) ` +
      `WHERE ${BASELINE_FILTER} ORDER BY timestamp) TO '${out}' (FORMAT parquet, COMPRESSION zstd)`,
  );

  const s3 = await startLocalS3();
  try {
    await s3.createBucket('bench-small');
    await s3.createBucket('bench-small-csv');
    data.keys.forEach((key, i) => seedObject(s3.dir, 'bench-small', key, { file: data.files[i]! }));
    csvData.keys.forEach((key, i) => seedObject(s3.dir, 'bench-small-csv', key, { file: csvData.files[i]! }));
    const inlet = await startBenchInlet(options.workDir, s3.endpoint, { INLET_FILE_ROOTS: dir });
    try {
      const jobs = await benchTable(inlet.api, [weblogTransform('json'), weblogTransform('csv')]);
      /** The floor and Inlet on one bucket's objects, alternated (one run of each varies by ±30 % on a shared machine), by their medians. */
      const againstFloor = async (bucket: string, objects: typeof data, transform: string, label: string) => {
        const { keys } = objects;
        const bytes = objects.files.reduce((sum, f) => sum + statSync(f).size, 0);
        const floors: { seconds: number; s3CpuSeconds: number }[] = [];
        const inlets: { job: any; seconds: number; s3CpuSeconds: number }[] = [];
        for (let run = 0; run < RUNS; run++) {
          let s3Before = cpuSecondsTree(s3.pid);
          const floor = await fetchFloor(s3.endpoint, bucket, keys);
          if (floor.bytes !== bytes) throw new Error(`small files (${label}): the fetch floor read ${floor.bytes} bytes, expected ${bytes}`);
          floors.push({ seconds: floor.seconds, s3CpuSeconds: cpuSecondsTree(s3.pid) - s3Before });
          s3Before = cpuSecondsTree(s3.pid);
          const result = await runJob(inlet.api, jobs, jobBody(`small files ${label} ${run + 1}`, `s3://${bucket}/events/`, transform));
          if (result.job.details.rows.written !== expected) throw new Error(`small files (${label}): wrote ${result.job.details.rows.written}, expected ${expected}`);
          inlets.push({ ...result, s3CpuSeconds: cpuSecondsTree(s3.pid) - s3Before });
        }
        const floor = floors.find((f) => f.seconds === median(floors.map((x) => x.seconds)))!;
        const { job, seconds, s3CpuSeconds } = inlets.find((r) => r.seconds === median(inlets.map((x) => x.seconds)))!;
        const spread = (values: number[]) => `median of ${RUNS} (${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)} s)`;
        const ratio = floor.seconds / seconds;
        const scenario = label === 'NDJSON' ? 'small files' : `small files, ${label}`;
        const rows: BenchRow[] = [
          {
            scenario,
            variant: 'baseline: fetch floor',
            rows: data.rows,
            inputBytes: bytes,
            seconds: floor.seconds,
            notes: `GETs of the same ${count} objects from the same s3rver, ${INLET_FETCHES_IN_FLIGHT} at once, Inlet's S3 client settings, bodies read and dropped; ${spread(floors.map((f) => f.seconds))}; s3rver ${floor.s3CpuSeconds.toFixed(1)} s of CPU`,
          },
          {
            scenario,
            variant: 'inlet',
            rows: data.rows,
            inputBytes: bytes,
            seconds,
            peakRssBytes: inlet.peakRss(),
            ratio,
            target: 'throughput ≥ 0.5 × fetch floor',
            met: ratio >= 0.5,
            notes: `${count} ${label} objects via S3, ${job.details.status_detail.tasks.INDEX.DONE} INDEX tasks; ${spread(inlets.map((r) => r.seconds))}, alternating with the floor; s3rver ${s3CpuSeconds.toFixed(1)} s of CPU`,
          },
        ];
        return { rows, seconds };
      };
      const ndjson = await againstFloor('bench-small', data, 'weblog_json', 'NDJSON');
      const csv = await againstFloor('bench-small-csv', csvData, 'weblog_csv', 'CSV');
      const seconds = ndjson.seconds;
      // The same files from the local disk: what Inlet costs without the loopback S3 server.
      const local = await runJob(inlet.api, jobs, jobBody('small files, local', `file://${dir}/events/`, 'weblog_json'));
      if (local.job.details.rows.written !== expected) throw new Error(`small files (local): wrote ${local.job.details.rows.written}, expected ${expected}`);
      return [
        ...ndjson.rows,
        {
          scenario: 'small files',
          variant: 'DuckDB, one glob (no S3)',
          rows: data.rows,
          inputBytes,
          seconds: glob.seconds,
          peakRssBytes: glob.peakRssBytes,
          ratio: glob.seconds / seconds,
          notes: `for comparison, the yardstick before the fetch floor: ${count} local files; ratio is Inlet via S3 over this`,
        },
        {
          scenario: 'small files',
          variant: 'inlet, file:// (no S3)',
          rows: data.rows,
          inputBytes,
          seconds: local.seconds,
          ratio: glob.seconds / local.seconds,
          notes: `for comparison: the same ${count} files read from a file:// root, ${local.job.details.status_detail.tasks.INDEX.DONE} INDEX tasks; ratio over DuckDB's glob`,
        },
        ...csv.rows,
      ];
    } finally {
      await inlet.stop();
    }
  } finally {
    await s3.stop();
  }
}
