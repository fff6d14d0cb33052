import { statSync } from 'node:fs';
import path from 'node:path';
import { startLocalS3 } from '../../test/helpers/s3.js';
import { benchTable, jobBody, runJob, startBenchInlet } from '../lib/inlet.js';
import { seedObject } from '../lib/seed-s3.js';
import { generatePlainCsv, weblogTransform } from '../lib/weblogs.js';
import type { BenchOptions, BenchRow } from '../report.js';

const GB = 1e9;

/** Memory: 5 GB of plain CSV (and a fifth of it, to show the peak does not grow with input). Target: peak RSS ≤ 1.5 GB. */
export async function memory(options: BenchOptions): Promise<BenchRow[]> {
  const sizes = options.quick ? [0.1 * GB, 0.5 * GB] : [1 * GB, 5 * GB];
  const rows: BenchRow[] = [];
  for (const size of sizes) {
    const label = `${(size / GB).toFixed(1)} GB`;
    const data = await generatePlainCsv(path.join(options.workDir, `memory-${size}`), size);
    const inputBytes = data.files.reduce((sum, f) => sum + statSync(f).size, 0);
    const s3 = await startLocalS3();
    try {
      await s3.createBucket('bench-mem');
      data.files.forEach((file) => seedObject(s3.dir, 'bench-mem', `logs/${path.basename(file)}`, { file }));
      const inlet = await startBenchInlet(options.workDir, s3.endpoint);
      try {
        const jobs = await benchTable(inlet.api, [weblogTransform('csv')]);
        const { job, seconds } = await runJob(inlet.api, jobs, jobBody(`memory ${label}`, 's3://bench-mem/logs/', 'weblog_csv'));
        const peak = inlet.peakRss() ?? NaN;
        rows.push({
          scenario: 'memory',
          variant: `inlet, ${label} input`,
          rows: data.rows,
          inputBytes,
          seconds,
          peakRssBytes: peak,
          target: 'peak RSS ≤ 1.5 GB',
          met: peak <= 1.5 * GB,
          notes: `${job.details.status_detail.tasks.INDEX.DONE} INDEX tasks, plain CSV via S3`,
        });
      } finally {
        await inlet.stop();
      }
    } finally {
      await s3.stop();
    }
  }
  return rows;
}
