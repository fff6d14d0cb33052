import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/log.js';
import { CATALOG_FIGURES_CACHE_MS } from '../src/metrics/metrics.js';
import { startService } from '../src/service.js';
import { dropSchema, POSTGRES_URL } from './helpers/catalogs.js';
import { csvOf, CSV_TRANSFORM, logRows, referenceJob } from './helpers/data.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3 } from './helpers/s3.js';

let root: string;
let inlet: TestInlet;

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'inlet-observability-'));
  inlet = await startInlet({ fileRoots: root });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
});

after(async () => {
  await inlet.stop();
  rmSync(root, { recursive: true, force: true });
});

type Sample = { name: string; labels: Record<string, string>; value: number };

/** Reads the Prometheus text exposition format strictly: every line is a comment, blank, or a sample. */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g)) labels[pair[1]!] = pair[2]!;
    // prom-client writes NaN as "Nan" (an event loop histogram before its first sample); Prometheus reads either.
    const value = Number(match[3]);
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(match[3]!), `sample value ${match[3]} is not a number`);
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

const valueOf = (samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined => samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

/**
 * Scrapes until `ready` holds: a worker records a task's duration just after its commit, which
 * the job's status may show first.
 */
async function scrapeUntil(url: string, ready: (samples: Sample[]) => boolean, init: RequestInit = {}): Promise<Sample[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const response = await fetch(url, init);
    assert.equal(response.status, 200);
    const samples = parsePrometheus(await response.text());
    if (ready(samples) || Date.now() > deadline) return samples;
    await delay(100);
  }
}

test('health: live and ready answer 200 without a token', async () => {
  const live = await fetch(`${inlet.service.url}/health/live`);
  assert.equal(live.status, 200);
  assert.equal(((await live.json()) as { status: string }).status, 'live');
  const ready = await fetch(`${inlet.service.url}/health/ready`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { status: 'ready', checks: { catalog: { ok: true } } });
});

test("/metrics: Prometheus text whose job, row and byte figures are the finished job's", { timeout: 120_000 }, async () => {
  const dir = path.join(root, 'metrics');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'a.csv'), csvOf(logRows(120)));
  writeFileSync(path.join(dir, 'b.csv'), csvOf(logRows(80, Date.UTC(2024, 0, 2))) + 'not a date,x,1,2,3,true\n');
  const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob('metrics', `file://${dir}/`));
  assert.equal(created.status, 200, created.text);
  const job = await inlet.api.waitForJob(created.body.uuid);
  assert.equal(job.status, 'done', JSON.stringify(job.details));
  assert.equal(job.details.rows.rejected, 1);

  const response = await fetch(`${inlet.service.url}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const samples = parsePrometheus(await response.text());

  assert.equal(valueOf(samples, 'inlet_catalog_up'), 1);
  assert.equal(valueOf(samples, 'inlet_jobs', { status: 'done' }), 1);
  assert.equal(valueOf(samples, 'inlet_jobs', { status: 'failed' }), 0);
  assert.equal(valueOf(samples, 'inlet_rows', { outcome: 'read' }), job.details.rows.read);
  assert.equal(valueOf(samples, 'inlet_rows', { outcome: 'written' }), 200);
  assert.equal(valueOf(samples, 'inlet_rows', { outcome: 'written' }), job.details.rows.written);
  assert.equal(valueOf(samples, 'inlet_rows', { outcome: 'rejected' }), 1);
  assert.equal(valueOf(samples, 'inlet_source_bytes'), job.details.bytes_read);
  assert.equal(valueOf(samples, 'inlet_task_queue_depth'), 0);
  assert.equal(valueOf(samples, 'inlet_tasks', { type: 'LIST', state: 'DONE' }), 1);
  assert.ok((valueOf(samples, 'inlet_tasks', { type: 'INDEX', state: 'DONE' }) ?? 0) >= 1);
  // The API process's own: requests by route pattern (never the raw path), and Node's defaults.
  assert.ok((valueOf(samples, 'inlet_http_requests_total', { method: 'POST', route: '/config/v1/orgs/:org/jobs/batch/:job/status', status: '200' }) ?? 0) >= 1);
  assert.ok(samples.some((s) => s.name === 'inlet_http_request_duration_seconds_bucket'));
  assert.ok(samples.some((s) => s.name === 'inlet_process_cpu_seconds_total'));
  assert.ok(!samples.some((s) => s.labels.route?.includes(created.body.uuid)), 'no series is labelled with a job id');

  // Pollers of one job share one computed view: the status cache's hits are counted.
  const polls = await Promise.all(Array.from({ length: 5 }, () => inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch/${created.body.uuid}/status`)));
  assert.ok(polls.every((poll) => poll.status === 200));
  const cached = parsePrometheus(await (await fetch(`${inlet.service.url}/metrics`)).text());
  assert.ok((valueOf(cached, 'inlet_status_cache_requests_total', { result: 'hit' }) ?? 0) >= 1);
  assert.ok((valueOf(cached, 'inlet_status_cache_requests_total', { result: 'miss' }) ?? 0) >= 1);

  // The forked worker process's own metrics, asked for over IPC, follow the API's.
  const indexDone = { type: 'INDEX', outcome: 'done' };
  const withWorker = await scrapeUntil(`${inlet.service.url}/metrics`, (all) => (valueOf(all, 'inlet_task_duration_seconds_count', indexDone) ?? 0) >= 1);
  assert.equal(valueOf(withWorker, 'inlet_worker_process_up'), 1);
  assert.equal(valueOf(withWorker, 'inlet_task_duration_seconds_count', { type: 'LIST', outcome: 'done' }), 1);
  assert.equal(valueOf(withWorker, 'inlet_task_duration_seconds_count', indexDone), valueOf(samples, 'inlet_tasks', { type: 'INDEX', state: 'DONE' }));
  assert.ok((valueOf(withWorker, 'inlet_task_claim_duration_seconds_count', { found: 'yes' }) ?? 0) >= 2);
  assert.ok(withWorker.some((s) => s.name === 'inlet_worker_process_cpu_seconds_total'));
  assert.ok(
    withWorker.some((s) => s.name === 'inlet_process_cpu_seconds_total'),
    "the API process's own defaults are still there",
  );
  // One exposition: no metric named twice.
  const types = (await (await fetch(`${inlet.service.url}/metrics`)).text()).split('\n').filter((line) => line.startsWith('# TYPE '));
  assert.equal(new Set(types).size, types.length);
});

test('a --role worker process serves its own /metrics on INLET_METRICS_PORT: tasks, claims and S3 requests', { timeout: 180_000 }, async () => {
  const s3 = await startLocalS3();
  const schema = `inlet_test_${randomBytes(6).toString('hex')}`;
  const databaseUrl = `${POSTGRES_URL}?schema=${schema}`;
  const workerDir = mkdtempSync(path.join(tmpdir(), 'inlet-metrics-worker-'));
  let api: TestInlet | undefined;
  let worker: Awaited<ReturnType<typeof startService>> | undefined;
  try {
    api = await startInlet({ role: 'api', workers: '0', databaseUrl, s3Endpoint: s3.endpoint, metricsToken: 'scrape-me' });
    const config = loadConfig(process.env, {
      role: 'worker',
      databaseUrl,
      s3Endpoint: s3.endpoint,
      dataDir: workerDir,
      host: '127.0.0.1',
      metricsPort: '0',
      metricsToken: 'scrape-me',
      workers: '1',
      pollIntervalMs: '50',
      leaseSeconds: '3',
      duckdbThreads: '1',
      logLevel: 'silent',
    });
    worker = await startService(config, createLogger('silent'));
    assert.equal(worker.url, undefined, 'a worker has no API');
    assert.match(worker.metricsUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

    await createWebsiteEvents(api.api, [CSV_TRANSFORM]);
    await s3.createBucket('metrics-src');
    await s3.put('metrics-src', 'in/a.csv', csvOf(logRows(50)));
    await s3.put('metrics-src', 'in/b.csv', csvOf(logRows(30, Date.UTC(2024, 0, 2))));
    const created = await api.api.request('POST', `/config/v1/orgs/${api.api.orgId}/jobs/batch`, referenceJob('from s3', 's3://metrics-src/in/'));
    assert.equal(created.status, 200, created.text);
    assert.equal((await api.api.waitForJob(created.body.uuid)).status, 'done');

    const auth = { headers: { authorization: 'Bearer scrape-me' } };
    assert.equal((await fetch(worker.metricsUrl!)).status, 401, 'the worker port asks for INLET_METRICS_TOKEN too');
    const samples = await scrapeUntil(worker.metricsUrl!, (all) => (valueOf(all, 'inlet_task_duration_seconds_count', { type: 'INDEX', outcome: 'done' }) ?? 0) >= 1, auth);
    assert.equal(valueOf(samples, 'inlet_task_duration_seconds_count', { type: 'LIST', outcome: 'done' }), 1);
    assert.ok((valueOf(samples, 'inlet_task_duration_seconds_count', { type: 'INDEX', outcome: 'done' }) ?? 0) >= 1);
    assert.ok((valueOf(samples, 'inlet_task_claim_duration_seconds_count', { found: 'yes' }) ?? 0) >= 2);
    assert.ok((valueOf(samples, 'inlet_task_claim_duration_seconds_count', { found: 'no' }) ?? 0) >= 1);
    assert.ok((valueOf(samples, 'inlet_s3_requests_total', { operation: 'ListObjectsV2Command', outcome: 'ok' }) ?? 0) >= 1);
    assert.ok((valueOf(samples, 'inlet_s3_requests_total', { operation: 'GetObjectCommand', outcome: 'ok' }) ?? 0) >= 2);
    assert.ok((valueOf(samples, 'inlet_s3_request_duration_seconds_count', { operation: 'GetObjectCommand' }) ?? 0) >= 2);
    assert.ok(samples.some((s) => s.name === 'inlet_worker_process_cpu_seconds_total'));
    assert.equal((await fetch(worker.metricsUrl!.replace(/\/metrics$/, '/other'), auth)).status, 404);

    // The API process alone: the catalog's figures, and no worker of its own to ask.
    const apiSamples = parsePrometheus(await (await fetch(`${api.service.url}/metrics`, auth)).text());
    assert.equal(valueOf(apiSamples, 'inlet_worker_process_up'), undefined);
    assert.equal(valueOf(apiSamples, 'inlet_task_duration_seconds_count', { type: 'LIST', outcome: 'done' }), undefined);
    assert.equal(valueOf(apiSamples, 'inlet_jobs', { status: 'done' }), 1);
  } finally {
    await worker?.stop();
    await api?.stop();
    await s3.stop();
    rmSync(workerDir, { recursive: true, force: true });
    await dropSchema(schema);
  }
});

test("the API's /metrics includes its query process's: the read cache of object storage by hit and miss, and the process's own figures", { timeout: 180_000 }, async () => {
  const s3 = await startLocalS3();
  let remote: TestInlet | undefined;
  try {
    await s3.createBucket('metrics-parts');
    remote = await startInlet({ s3Endpoint: s3.endpoint, storageUrl: 's3://metrics-parts/inlet/', fileRoots: root });
    await createWebsiteEvents(remote.api, [CSV_TRANSFORM]);
    const dir = mkdtempSync(path.join(root, 'cache-'));
    writeFileSync(path.join(dir, 'a.csv'), csvOf(logRows(40)));
    const created = await remote.api.request('POST', `/config/v1/orgs/${remote.api.orgId}/jobs/batch`, referenceJob('cached', `file://${dir}/`));
    assert.equal(created.status, 200, created.text);
    assert.equal((await remote.api.waitForJob(created.body.uuid)).status, 'done');
    // The first query downloads the partitions it reads; the second finds them in the cache.
    for (let i = 0; i < 2; i++) assert.equal((await remote.api.query('SELECT count() FROM website.events')).text.trim(), '40');
    const text = await (await fetch(`${remote.service.url}/metrics`)).text();
    const samples = parsePrometheus(text);
    assert.equal(valueOf(samples, 'inlet_query_process_up'), 1);
    const misses = valueOf(samples, 'inlet_query_cache_files_total', { result: 'miss' }) ?? 0;
    assert.ok(misses >= 1, `${misses} cache misses`);
    assert.ok((valueOf(samples, 'inlet_query_cache_files_total', { result: 'hit' }) ?? 0) >= misses, 'the second query read the files the first downloaded');
    assert.ok((valueOf(samples, 'inlet_query_cache_downloaded_bytes_total') ?? 0) > 0);
    assert.ok(samples.some((s) => s.name === 'inlet_query_process_resident_memory_bytes'));
  } finally {
    await remote?.stop();
    await s3.stop();
  }
});

test('/metrics counts queries and labels unknown paths as one series', async () => {
  const ok = await inlet.api.query('SELECT count() FROM website.events');
  assert.equal(ok.status, 200, ok.text);
  const bad = await inlet.api.query('SELECT nope FROM website.events');
  assert.equal(bad.status, 400);
  for (const junk of ['/no/such/a', '/no/such/b']) assert.equal((await fetch(`${inlet.service.url}${junk}`)).status, 404);
  const samples = parsePrometheus(await (await fetch(`${inlet.service.url}/metrics`)).text());
  assert.ok((valueOf(samples, 'inlet_queries_total', { outcome: 'ok' }) ?? 0) >= 1);
  assert.ok((valueOf(samples, 'inlet_queries_total', { outcome: 'error' }) ?? 0) >= 1);
  assert.ok((valueOf(samples, 'inlet_query_duration_seconds_count', { outcome: 'ok' }) ?? 0) >= 1);
  assert.equal(valueOf(samples, 'inlet_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 2);
});

test('/metrics asks for INLET_METRICS_TOKEN when one is set', async () => {
  const guarded = await startInlet({ metricsToken: 's3cret-scrape' });
  try {
    const url = `${guarded.service.url}/metrics`;
    const anonymous = await fetch(url);
    assert.equal(anonymous.status, 401);
    assert.match(((await anonymous.json()) as { detail: string }).detail, /INLET_METRICS_TOKEN/);
    assert.equal((await fetch(url, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    // A login token is not the scrape token.
    assert.equal((await fetch(url, { headers: { authorization: `Bearer ${guarded.api.token}` } })).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: 'Bearer s3cret-scrape' } })).status, 200);
    // Health stays open for probes whatever the metrics token.
    assert.equal((await fetch(`${guarded.service.url}/health/ready`)).status, 200);
  } finally {
    await guarded.stop();
  }
});

test('health: ready answers 503 naming the catalog when it does not answer; live stays 200', async () => {
  const broken = await startInlet({ workers: '0' });
  try {
    await broken.service.catalog.close();
    const ready = await fetch(`${broken.service.url}/health/ready`);
    assert.equal(ready.status, 503);
    const body = (await ready.json()) as { status: string; checks: { catalog: { ok: boolean; error: string } } };
    assert.equal(body.status, 'unavailable');
    assert.equal(body.checks.catalog.ok, false);
    assert.ok(body.checks.catalog.error.length > 0);
    assert.equal((await fetch(`${broken.service.url}/health/live`)).status, 200);
    // /metrics still answers the process's own series, and says the catalog figures are missing rather than stale.
    const metrics = await fetch(`${broken.service.url}/metrics`);
    assert.equal(metrics.status, 200);
    const samples = parsePrometheus(await metrics.text());
    assert.equal(valueOf(samples, 'inlet_catalog_up'), 0);
    assert.equal(valueOf(samples, 'inlet_jobs', { status: 'done' }), undefined);
    assert.ok(samples.some((s) => s.name === 'inlet_process_cpu_seconds_total'));
  } finally {
    await broken.stop();
  }
});

/**
 * A TCP proxy to PostgreSQL that can go silent: while stalled, bytes wait in the sockets both
 * ways, as on a dead network path; resumed, they flow again, so the held queries can finish.
 */
async function stallingProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let stalled = false;
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from);
      from.on('data', (chunk) => to.write(chunk));
      from.on('error', () => to.destroy());
      from.on('close', () => to.destroy());
      if (stalled) from.pause();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stall: () => {
      stalled = true;
      for (const socket of sockets) socket.pause();
    },
    resume: () => {
      stalled = false;
      for (const socket of sockets) socket.resume();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

test('a catalog that stops answering: ready is 503 and /metrics answers without the catalog figures, instead of hanging', { timeout: 120_000 }, async () => {
  const pgUrl = new URL(POSTGRES_URL);
  const proxy = await stallingProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
  const schema = `inlet_test_${randomBytes(6).toString('hex')}`;
  const viaProxy = new URL(POSTGRES_URL);
  viaProxy.port = String(proxy.port);
  viaProxy.searchParams.set('schema', schema);
  let stalledInlet: TestInlet | undefined;
  try {
    stalledInlet = await startInlet({ workers: '0', databaseUrl: viaProxy.href });
    const url = stalledInlet.service.url!;
    assert.equal(valueOf(parsePrometheus(await (await fetch(`${url}/metrics`)).text()), 'inlet_catalog_up'), 1);
    proxy.stall();
    const ready = await fetch(`${url}/health/ready`);
    assert.equal(ready.status, 503);
    assert.match(((await ready.json()) as { checks: { catalog: { error: string } } }).checks.catalog.error, /the catalog did not answer within/);
    // Past the cached reading, the scrape asks the stalled catalog, and must still answer.
    await delay(CATALOG_FIGURES_CACHE_MS + 500);
    for (let scrape = 0; scrape < 2; scrape++) {
      const metrics = await fetch(`${url}/metrics`);
      assert.equal(metrics.status, 200);
      const samples = parsePrometheus(await metrics.text());
      assert.equal(valueOf(samples, 'inlet_catalog_up'), 0);
      assert.ok(samples.some((s) => s.name === 'inlet_process_cpu_seconds_total'));
    }
    proxy.resume();
    assert.equal((await fetch(`${url}/health/ready`)).status, 200);
    await delay(CATALOG_FIGURES_CACHE_MS + 500);
    assert.equal(valueOf(parsePrometheus(await (await fetch(`${url}/metrics`)).text()), 'inlet_catalog_up'), 1, 'the figures come back with the catalog');
  } finally {
    proxy.resume();
    await stalledInlet?.stop();
    await proxy.close();
    await dropSchema(schema);
  }
});
