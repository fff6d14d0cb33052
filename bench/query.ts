import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { quoteLiteral } from '../src/transform/compile.js';
import { CSV_TRANSFORM, referenceJob } from '../test/helpers/data.js';
import { ApiClient, createWebsiteEvents, startInlet } from '../test/helpers/inlet.js';
import { builtInlet, spawnInlet } from '../test/helpers/process.js';
import { startBareQueryServer } from './lib/bare-server.js';
import { bareHttpClient, keepAliveClient } from './lib/http-client.js';
import { median, timed } from './lib/measure.js';
import type { BenchOptions, BenchRow } from './report.js';

const START_MS = Date.UTC(2024, 0, 1);
const DAY_MS = 86_400_000;
const HOSTS = ['a.example.com', 'b.example.com', 'c.example.com', 'd.example.com'];
const TARGET = 1.5;
const PAUSE_MS = 200;

/** One gzip CSV per day of web logs, `perSecond` rows each second, in the test transform's shape. */
async function generateDay(file: string, day: number, perSecond: number): Promise<number> {
  const rows = 86_400 * perSecond;
  const stepMs = 1000 / perSecond;
  const dayStart = START_MS + day * DAY_MS;
  async function* lines() {
    yield 'timestamp,host,status,bytes,latency,cached\n';
    const batch: string[] = [];
    for (let i = 0; i < rows; i++) {
      const ts = new Date(dayStart + Math.floor(i * stepMs)).toISOString().slice(0, 19).replace('T', ' ');
      batch.push(`${ts},${HOSTS[i % 4]},${[200, 200, 200, 404, 500][i % 5]},${(i * 7919) % 50_000},${((i * 31) % 1000) / 100},${i % 2 === 0}\n`);
      if (batch.length === 10_000) yield batch.splice(0).join('');
    }
    yield batch.join('');
  }
  await pipeline(Readable.from(lines()), createGzip({ level: 1 }), createWriteStream(file));
  return rows;
}

/**
 * A dashboard's one-hour query through /query (HTTP, auth, catalog pruning, a sealed sandbox)
 * against DuckDB reading just the partition files of that hour, alternated in the same run.
 */
export async function runQueryBench(options: BenchOptions): Promise<BenchRow[]> {
  const days = options.quick ? 3 : 30;
  const perSecond = options.quick ? 2 : 5;
  // A query sample spreads ±1 ms around a ~5 ms median on these machines: 81 keep the medians within ~0.1 ms.
  const runs = options.quick ? 15 : 81;
  const sourceDir = path.join(options.workDir, 'query-source');
  mkdirSync(sourceDir, { recursive: true });
  let totalRows = 0;
  for (let day = 0; day < days; day++) totalRows += await generateDay(path.join(sourceDir, `day-${String(day).padStart(2, '0')}.csv.gz`), day, perSecond);

  const dataDir = path.join(options.workDir, 'query-inlet');
  const inlet = await startInlet({ fileRoots: sourceDir, workers: '2', duckdbThreads: '1', pollIntervalMs: '500' }, dataDir);
  const direct = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await direct.connect();
  let server: Awaited<ReturnType<typeof spawnInlet>> | undefined;
  let bare: Awaited<ReturnType<typeof startBareQueryServer>> | undefined;
  let stopClients = () => {};
  try {
    await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
    const ingestStart = performance.now();
    const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob('bench query', `file://${sourceDir}/`));
    const job = await inlet.api.waitForJob(created.body.uuid, undefined, 3_600_000);
    if (job.status !== 'done') throw new Error(`ingest ended ${job.status}: ${JSON.stringify(job.details).slice(0, 1000)}`);
    const ingestSeconds = (performance.now() - ingestStart) / 1000;

    // An hour in the middle of the data, on partition boundaries, as a dashboard asks it.
    const from = new Date(START_MS + Math.floor(days / 2) * DAY_MS + 13 * 3_600_000);
    const to = new Date(from.getTime() + 3_600_000);
    const ts = (d: Date) => d.toISOString().slice(0, 19).replace('T', ' ');
    const where = `timestamp >= '${ts(from)}' AND timestamp < '${ts(to)}'`;
    const select = `SELECT host, count() AS n, countIf(status >= 500) AS errors, avg(latency) AS latency, quantile_cont(latency, 0.9) AS p90, sum(bytes) AS bytes`;
    const inletSql = `${select} FROM website.events WHERE ${where} GROUP BY host ORDER BY host FORMAT JSON`;

    const partitions = await inlet.service.catalog.db.selectFrom('partitions').select(['path', 'min_ts_ms', 'max_ts_ms', 'rows']).where('max_ts_ms', '>=', from.getTime()).where('min_ts_ms', '<', to.getTime()).execute();
    const total = await inlet.service.catalog.db
      .selectFrom('partitions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const files = partitions.map((p) => path.join(dataDir, 'partitions', p.path));
    // Queries go to `inlet serve` in its own process, as deployed: a client sharing the server's
    // event loop would be charged for the server's work after the answer (closing the sandbox).
    await inlet.stop({ keepData: true });
    builtInlet();
    server = await spawnInlet({ INLET_DATA_DIR: dataDir, INLET_WORKERS: '2', INLET_DUCKDB_THREADS: '1' }, [], { built: true });
    const api = new ApiClient(server.url);
    await api.login();
    const directSql = `SELECT host, count(*) AS n, count_if(status >= 500) AS errors, avg(latency) AS latency, quantile_cont(latency, 0.9) AS p90, sum(bytes) AS bytes FROM read_parquet([${files.map(quoteLiteral).join(', ')}]) WHERE ${where} GROUP BY host ORDER BY host`;

    // Judged through a client that only frames HTTP, as curl is; Node's own client is timed too
    // (it adds ~0.4 ms of its own JavaScript per answer), and so is the least any HTTP service
    // can do: a bare Fastify route running the same statement, prepared, over the same files.
    bare = await startBareQueryServer(directSql);
    const inletClient = bareHttpClient(server.url, api.token);
    const nodeClient = keepAliveClient(server.url, api.token, 1);
    const bareClient = bareHttpClient(bare.url, undefined);
    stopClients = () => [inletClient, nodeClient, bareClient].forEach((client) => client.close());
    // Each variant answers its seconds; the HTTP ones also the parsed answer (outside the timing).
    const viaHttp = async (post: () => Promise<{ status: number; text: string }>) => {
      const { value: answer, seconds } = await timed(post);
      if (answer.status !== 200) throw new Error(answer.text);
      return { seconds, body: JSON.parse(answer.text) as { statistics: Record<string, number> } };
    };
    const headers = { 'content-type': 'text/plain' };
    const variants = {
      inlet: () => viaHttp(() => inletClient.post('/query', inletSql, headers)),
      duckdb: () => timed(async () => (await connection.runAndReadAll(directSql)).getRowsJson()),
      inletNodeHttp: () => viaHttp(() => nodeClient.post('/query', inletSql, headers)),
      bare: () => viaHttp(() => bareClient.post('/query', '', headers)),
    };
    // Warm each (file cache, first-use costs), then alternate so drift hits all alike.
    const first = await variants.inlet();
    for (const run of Object.values(variants)) await run();
    const times = Object.fromEntries(Object.keys(variants).map((k) => [k, [] as number[]])) as Record<keyof typeof variants, number[]>;
    for (let i = 0; i < runs; i++) {
      for (const [name, run] of Object.entries(variants) as [keyof typeof variants, () => Promise<{ seconds: number }>][]) {
        // Spaced as a polling dashboard's queries are, so each side runs on a quiet machine.
        await delay(PAUSE_MS);
        times[name].push((await run()).seconds);
      }
    }
    const read = first.body.statistics.partitions_read!;
    const hourRows = partitions.reduce((sum, p) => sum + p.rows, 0);
    const baseline = median(times.duckdb);
    const inletMedian = median(times.inlet);
    const ratio = inletMedian / baseline;
    const ms = (seconds: number) => `${(seconds * 1000).toFixed(2)} ms`;
    const versus = (name: keyof typeof times) => `${ms(median(times[name]))} (${(median(times[name]) / baseline).toFixed(2)}x)`;
    const scenario = `query: 1 h of ${days} d (${total.n} partitions)`;
    return [
      {
        scenario,
        variant: 'baseline',
        rows: hourRows,
        seconds: baseline,
        notes: `DuckDB alone, ${files.length} files named directly, 1 thread: ${ms(baseline)}, median of ${runs}; data ingested in ${ingestSeconds.toFixed(1)} s (${totalRows} rows)`,
      },
      {
        scenario,
        variant: 'inlet',
        rows: hourRows,
        seconds: inletMedian,
        notes: `POST /query FORMAT JSON over HTTP to inlet serve: ${ms(inletMedian)}, p90 ${ms([...times.inlet].sort((a, b) => a - b)[Math.floor(runs * 0.9)]!)}; with Node's http client ${versus('inletNodeHttp')}; read ${read} of ${first.body.statistics.partitions_considered} partitions; latency ratio`,
        ratio,
        target: `latency <= ${TARGET}x baseline, partitions read <= ${files.length}`,
        met: ratio <= TARGET && read <= files.length,
      },
      {
        scenario,
        variant: 'bare HTTP server',
        rows: hourRows,
        seconds: median(times.bare),
        ratio: median(times.bare) / baseline,
        notes: `the floor for any HTTP service: one Fastify route running the same statement prepared, no auth, catalog or sandbox: ${versus('bare')}`,
      },
    ];
  } finally {
    connection.closeSync();
    direct.closeSync();
    await inlet.stop({ keepData: true });
    stopClients();
    await bare?.stop();
    server?.child.kill('SIGTERM');
    await server?.exited;
  }
}
