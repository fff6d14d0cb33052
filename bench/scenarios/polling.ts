import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startLocalS3 } from '../../test/helpers/s3.js';
import { benchTable, jobBody, runJob, startBenchInlet } from '../lib/inlet.js';
import { keepAliveClient } from '../lib/http-client.js';
import { median, percentile } from '../lib/measure.js';
import { generateCsvGz, weblogTransform } from '../lib/weblogs.js';
import type { BenchOptions, BenchRow } from '../report.js';

const CLIENTS = 50;
/** Each client polls this often (200 requests/s in all): an eager dashboard. The clients run on the same 2 cores as Inlet, so a tight loop would measure the clients. */
const INTERVAL_MS = 250;
/** Quiet and polled runs, alternated. */
const RUNS = 3;

/** Status polling: 50 clients poll `status` every 250 ms during a big job. Targets: p99 ≤ 50 ms, ingest slows ≤ 10 %. */
export async function polling(options: BenchOptions): Promise<BenchRow[]> {
  const data = await generateCsvGz(path.join(options.workDir, 'polling'), 8, options.quick ? 25_000 : 250_000);
  const s3 = await startLocalS3();
  try {
    await s3.createBucket('bench-poll');
    for (const file of data.files) await s3.put('bench-poll', `logs/${path.basename(file)}`, readFileSync(file));
    const inlet = await startBenchInlet(options.workDir, s3.endpoint);
    try {
      const jobs = await benchTable(inlet.api, [weblogTransform('csv')]);
      const url = 's3://bench-poll/logs/';
      const latencies: number[] = [];
      /** One job while CLIENTS poll its status; their latencies add up across runs. */
      const polledRun = async (run: number): Promise<number> => {
        let polling = true;
        let target = '';
        const client = keepAliveClient(inlet.api.url, inlet.api.token, CLIENTS);
        const pollers = Array.from({ length: CLIENTS }, async (_, index) => {
          let started = false;
          while (polling) {
            if (!target) {
              await new Promise((resolve) => setTimeout(resolve, 5));
              continue;
            }
            if (!started) {
              // Independent dashboards are not in step: each starts at its own point of the
              // interval (all 50 at one instant would measure a queue of 50, every 250 ms).
              started = true;
              await new Promise((resolve) => setTimeout(resolve, (index * INTERVAL_MS) / CLIENTS));
              if (!polling) break;
            }
            const start = performance.now();
            const response = await client.post(`${jobs}/${target}/status`);
            if (response.status !== 200) throw new Error(`status answered ${response.status}: ${response.text}`);
            const took = performance.now() - start;
            latencies.push(took);
            await new Promise((resolve) => setTimeout(resolve, Math.max(0, INTERVAL_MS - took)));
          }
        });
        const start = performance.now();
        const created = await inlet.api.request('POST', jobs, jobBody(`polled ${run}`, url, 'weblog_csv'));
        target = created.body.uuid;
        const job = await inlet.api.waitForJob(created.body.uuid, undefined, 3_600_000);
        const seconds = (performance.now() - start) / 1000;
        polling = false;
        await Promise.all(pollers);
        client.close();
        if (job.status !== 'done') throw new Error(`polled job ended ${job.status}`);
        return seconds;
      };
      // Jobs this short vary by ±15 % run to run: alternate quiet and polled runs, compare medians.
      const quietRuns: number[] = [];
      const polledRuns: number[] = [];
      for (let run = 1; run <= RUNS; run++) {
        quietRuns.push((await runJob(inlet.api, jobs, jobBody(`quiet ${run}`, url, 'weblog_csv'))).seconds);
        polledRuns.push(await polledRun(run));
      }
      const quiet = { seconds: median(quietRuns) };
      const busySeconds = median(polledRuns);

      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      const slowdown = busySeconds / quiet.seconds - 1;
      return [
        { scenario: 'status polling', variant: 'inlet, no pollers', rows: data.rows, seconds: quiet.seconds, notes: `the same job, alone; median of ${RUNS}` },
        {
          scenario: 'status polling',
          variant: `inlet, ${CLIENTS} pollers every ${INTERVAL_MS} ms`,
          rows: data.rows,
          seconds: busySeconds,
          peakRssBytes: inlet.peakRss(),
          ratio: quiet.seconds / busySeconds,
          target: 'p99 ≤ 50 ms, ingest slows ≤ 10 %',
          met: p99 <= 50 && slowdown <= 0.1,
          notes: `median of ${RUNS} runs alternating with the quiet ones; ${latencies.length} polls, p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, ingest ${(slowdown * 100).toFixed(1)} % slower`,
        },
      ];
    } finally {
      await inlet.stop();
    }
  } finally {
    await s3.stop();
  }
}
