import { setTimeout as delay } from 'node:timers/promises';
import { startLocalS3 } from '../../test/helpers/s3.js';
import { benchTable, jobBody, startBenchInlet } from '../lib/inlet.js';
import { seedObject } from '../lib/seed-s3.js';
import { weblogTransform } from '../lib/weblogs.js';
import type { BenchOptions, BenchRow } from '../report.js';

/** Listing: 100,000 objects under one prefix (10,000 with --quick). Target: LIST done and INDEX tasks created in ≤ 30 s. */
export async function listing(options: BenchOptions): Promise<BenchRow[]> {
  const count = options.quick ? 10_000 : 100_000;
  const s3 = await startLocalS3();
  try {
    await s3.createBucket('bench-list');
    // Laid out as logs usually are: a folder per hour, a few hundred objects each.
    for (let i = 0; i < count; i++) {
      const hour = Math.floor(i / 250);
      seedObject(s3.dir, 'bench-list', `logs/2024/01/${String(Math.floor(hour / 24) + 1).padStart(2, '0')}/${String(hour % 24).padStart(2, '0')}/part-${String(i).padStart(6, '0')}.json`, { text: '{}\n' });
    }
    const inlet = await startBenchInlet(options.workDir, s3.endpoint, { INLET_WORKERS: '1' });
    try {
      const jobs = await benchTable(inlet.api, [weblogTransform('json')]);
      const start = performance.now();
      const created = await inlet.api.request('POST', jobs, jobBody('listing', 's3://bench-list/logs/', 'weblog_json', { input_aggregation: 1024 }));
      let job: any;
      for (;;) {
        [job] = (await inlet.api.request('GET', `${jobs}/${created.body.uuid}/status`)).body;
        if (job.details.status_detail.tasks.LIST?.DONE || job.status === 'failed') break;
        await delay(100);
      }
      const seconds = (performance.now() - start) / 1000;
      await inlet.api.request('POST', `${jobs}/${created.body.uuid}/cancel`);
      const tasks = job.details.status_detail.tasks.INDEX ?? {};
      const indexTasks = Object.values(tasks as Record<string, number>).reduce((a, b) => a + b, 0);
      return [
        {
          scenario: 'listing',
          variant: 'inlet',
          rows: count,
          seconds,
          peakRssBytes: inlet.peakRss(),
          target: 'LIST done, INDEX tasks created ≤ 30 s',
          met: job.status !== 'failed' && seconds <= 30,
          notes: `${count} objects listed from s3rver (1,000 a page), ${indexTasks} INDEX tasks`,
        },
      ];
    } finally {
      await inlet.stop();
    }
  } finally {
    await s3.stop();
  }
}
