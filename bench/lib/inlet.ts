import { createWriteStream, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { ApiClient } from '../../test/helpers/inlet.js';
import { builtInlet, spawnInlet } from '../../test/helpers/process.js';
import { S3_CREDENTIALS } from '../../test/helpers/s3.js';
import { peakRssTree } from './measure.js';

export interface BenchInlet {
  readonly api: ApiClient;
  readonly pid: number;
  readonly dataDir: string;
  peakRss(): number | undefined;
  /**
   * The stage times of every INDEX task finished since the last call (from its `task done` log
   * line), once `expected` of them arrived: a worker logs a task after committing it, so its
   * line can reach this process after the job reads done. Waits 10 s at most.
   */
  takeIndexPhases(expected?: number): Promise<IndexPhases[]>;
  stop(): Promise<void>;
}

/** What the worker logs per INDEX task (src/worker/pool.ts `task done`). */
export interface IndexPhases {
  readonly fetchMs: number;
  readonly convertMs: number;
  readonly writeMs: number;
}

/** `inlet serve` in its own process, as deployed (the compiled dist/, as `npm start` runs it), against the bench's S3 server. */
export async function startBenchInlet(
  workDir: string,
  s3Endpoint: string,
  env: Record<string, string> = {},
  /** `fromSources`: through tsx instead, for tests, where building dist/ could swap it under another test's `npm start`. */
  options: { fromSources?: boolean } = {},
): Promise<BenchInlet> {
  const dataDir = mkdtempSync(path.join(workDir, 'inlet-'));
  // INLET_BENCH_PROFILE=dir writes a V8 CPU profile of the Inlet process there (node --cpu-prof);
  // INLET_BENCH_NODE_ARGS adds node flags NODE_OPTIONS refuses (e.g. --trace-gc).
  const profile = [...(process.env.INLET_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.INLET_BENCH_PROFILE}`] : []), ...(process.env.INLET_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [])];
  if (!options.fromSources) builtInlet();
  const inlet = await spawnInlet({ ...S3_CREDENTIALS, AWS_ENDPOINT_URL_S3: s3Endpoint, INLET_DATA_DIR: dataDir, INLET_POLL_INTERVAL_MS: '50', ...env }, profile, { built: !options.fromSources });
  const api = new ApiClient(inlet.url);
  await api.login();
  // A second reader of the log the spawn helper drains: the workers' lines reach this process's stdout.
  // INLET_BENCH_LOG=file keeps them, to see where a job's time went between its tasks.
  const keep = process.env.INLET_BENCH_LOG ? createWriteStream(process.env.INLET_BENCH_LOG, { flags: 'a' }) : undefined;
  if (keep) inlet.child.stdout!.pipe(keep);
  let phases: IndexPhases[] = [];
  let partial = '';
  inlet.child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (!line.includes('"task done"') || !line.includes('"INDEX"')) continue;
      try {
        const entry = JSON.parse(line) as Partial<IndexPhases>;
        phases.push({ fetchMs: entry.fetchMs ?? 0, convertMs: entry.convertMs ?? 0, writeMs: entry.writeMs ?? 0 });
      } catch {
        // Not a JSON log line: nothing to count.
      }
    }
  });
  return {
    api,
    pid: inlet.child.pid!,
    dataDir,
    peakRss: () => peakRssTree(inlet.child.pid!),
    takeIndexPhases: async (expected = 0) => {
      for (const deadline = Date.now() + 10_000; phases.length < expected && Date.now() < deadline;) await new Promise((resolve) => setTimeout(resolve, 20));
      const taken = phases;
      phases = [];
      return taken;
    },
    stop: async () => {
      inlet.child.kill('SIGTERM');
      await inlet.exited;
    },
  };
}

/** Creates project `bench`, table `logs` and the given transforms; answers the job-create URL. */
export async function benchTable(api: ApiClient, transforms: readonly object[]): Promise<string> {
  const project = await api.request('POST', `/config/v1/orgs/${api.orgId}/projects`, { name: 'bench' });
  const table = await api.request('POST', `/config/v1/orgs/${api.orgId}/projects/${project.body.uuid}/tables`, { name: 'logs' });
  for (const t of transforms) {
    const created = await api.request('POST', `/config/v1/orgs/${api.orgId}/projects/${project.body.uuid}/tables/${table.body.uuid}/transforms`, t);
    if (created.status !== 201) throw new Error(created.text);
  }
  return `/config/v1/orgs/${api.orgId}/jobs/batch`;
}

/** Runs a job to its end; answers the final job and the wall seconds from the create call. */
export async function runJob(api: ApiClient, jobsUrl: string, body: object): Promise<{ job: any; seconds: number }> {
  const start = performance.now();
  const created = await api.request('POST', jobsUrl, body);
  if (created.status !== 200) throw new Error(created.text);
  const job = await api.waitForJob(created.body.uuid, undefined, 3_600_000);
  const seconds = (performance.now() - start) / 1000;
  if (job.status !== 'done') throw new Error(`bench job ended ${job.status}: ${JSON.stringify(job.details).slice(0, 2000)}`);
  return { job, seconds };
}

export const jobBody = (name: string, url: string, transform: string, settings: Record<string, unknown> = {}, table = 'bench.logs') => ({
  name,
  type: 'batch_import',
  // Each scenario loads the same objects several times: the ledger would skip them after the first run.
  settings: { force: true, ...settings, source: { table, type: 'batch', subtype: 'aws s3', transform, settings: { url } } },
});
