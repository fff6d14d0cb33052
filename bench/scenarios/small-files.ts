import { statSync } from 'node:fs';
import path from 'node:path';
import { startLocalS3 } from '../../test/helpers/s3.js';
import { benchTable, jobBody, runJob, startBenchInlet } from '../lib/inlet.js';
import { duckdbAlone } from '../lib/run-alone.js';
import { seedObject } from '../lib/seed-s3.js';
import { BASELINE_CONVERSIONS, BASELINE_FILTER, generateSmallNdjson, weblogTransform } from '../lib/weblogs.js';
import type { BenchOptions, BenchRow } from '../report.js';

const JSON_COLUMNS = `{'timestamp': 'VARCHAR', 'host': 'VARCHAR', 'method': 'VARCHAR', 'path': 'VARCHAR', 'status': 'VARCHAR', 'bytes': 'VARCHAR', 'latency_ms': 'VARCHAR', 'user_agent': 'VARCHAR'}`;

/** Small files: 20,000 NDJSON files of 2-10 KB (2,000 with --quick). Target: ≥ 0.5 × DuckDB reading them with one glob. */
export async function smallFiles(options: BenchOptions): Promise<BenchRow[]> {
  const count = options.quick ? 2_000 : 20_000;
  const dir = path.join(options.workDir, 'small');
  const data = await generateSmallNdjson(dir, count);
  const inputBytes = data.files.reduce((sum, f) => sum + statSync(f).size, 0);

  const out = path.join(options.workDir, 'small-baseline.parquet');
  const baseline = await duckdbAlone(
    `COPY (SELECT ${BASELINE_CONVERSIONS} FROM read_json('${dir}/events/*/*.json', format='newline_delimited', columns=${JSON_COLUMNS}) ` +
      `WHERE ${BASELINE_FILTER} ORDER BY timestamp) TO '${out}' (FORMAT parquet, COMPRESSION zstd)`,
  );

  const s3 = await startLocalS3();
  try {
    await s3.createBucket('bench-small');
    data.keys.forEach((key, i) => seedObject(s3.dir, 'bench-small', key, { file: data.files[i]! }));
    const inlet = await startBenchInlet(options.workDir, s3.endpoint, { INLET_FILE_ROOTS: dir });
    try {
      const jobs = await benchTable(inlet.api, [weblogTransform('json')]);
      const { job, seconds } = await runJob(inlet.api, jobs, jobBody('small files', 's3://bench-small/events/', 'weblog_json'));
      if (job.details.rows.written !== data.rows - data.badRows) throw new Error(`small files: wrote ${job.details.rows.written}, expected ${data.rows - data.badRows}`);
      const ratio = baseline.seconds / seconds;
      // The same files from the local disk: what Inlet costs without the loopback S3 server,
      // whose GETs (2-6 ms of its CPU each) dominate the S3 run.
      const local = await runJob(inlet.api, jobs, jobBody('small files, local', `file://${dir}/events/`, 'weblog_json'));
      if (local.job.details.rows.written !== data.rows - data.badRows) throw new Error(`small files (local): wrote ${local.job.details.rows.written}, expected ${data.rows - data.badRows}`);
      const localRatio = baseline.seconds / local.seconds;
      return [
        { scenario: 'small files', variant: 'baseline: DuckDB, one glob', rows: data.rows, inputBytes, seconds: baseline.seconds, peakRssBytes: baseline.peakRssBytes, notes: `${count} local files` },
        {
          scenario: 'small files',
          variant: 'inlet',
          rows: data.rows,
          inputBytes,
          seconds,
          peakRssBytes: inlet.peakRss(),
          ratio,
          target: 'throughput ≥ 0.5 × baseline',
          met: ratio >= 0.5,
          notes: `${count} objects via S3, ${job.details.status_detail.tasks.INDEX.DONE} INDEX tasks`,
        },
        {
          scenario: 'small files',
          variant: 'inlet, file:// (no S3)',
          rows: data.rows,
          inputBytes,
          seconds: local.seconds,
          ratio: localRatio,
          notes: `for comparison, not the target's setting: the same ${count} files read from a file:// root, ${local.job.details.status_detail.tasks.INDEX.DONE} INDEX tasks`,
        },
      ];
    } finally {
      await inlet.stop();
    }
  } finally {
    await s3.stop();
  }
}
