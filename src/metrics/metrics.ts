import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Catalog } from '../catalog/db.js';
import { JOB_STATUSES, TASK_STATES, TASK_TYPES } from '../catalog/schema.js';
import { RefreshingCache } from '../ttl-cache.js';
import { withTimeout } from '../with-timeout.js';
import { readCatalogFigures, type CatalogFigures } from './catalog-figures.js';

/**
 * How long one reading of the catalog serves every scrape: many Prometheus replicas or a
 * scrape loop then cost the catalog a few queries per interval, however often they ask.
 */
export const CATALOG_FIGURES_CACHE_MS = 2000;
/** A catalog slower than this makes the scrape answer without its figures rather than time the whole scrape out. */
const CATALOG_FIGURES_TIMEOUT_MS = 5000;

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The API process's metrics: one registry, created by the service and passed to the routes that record into it. */
export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly queries: Counter<'outcome'>;
  readonly queryDuration: Histogram<'outcome'>;
  /** Job views asked of the status cache: served from it (`hit`, a poll joining one being computed included) or computed (`miss`). */
  readonly statusCache: Counter<'result'>;
  /** The whole scrape: this registry, then the worker process's when there is one. */
  render(): Promise<string>;
}

export interface MetricsSources {
  /** The forked worker process's metrics in Prometheus text; undefined when it does not answer. */
  readonly worker?: () => Promise<string | undefined>;
  /** The query process's metrics in Prometheus text; undefined when it is not running or does not answer. */
  readonly queryProcess?: () => Promise<string | undefined>;
}

export function createMetrics(catalog: Catalog, sources: MetricsSources = {}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'inlet_' });
  const registers = [registry];

  const figures = new RefreshingCache<'catalog', CatalogFigures>(1, CATALOG_FIGURES_CACHE_MS, CATALOG_FIGURES_CACHE_MS);
  // A catalog that does not answer leaves its series out (not stale values) and sets inlet_catalog_up to 0,
  // while the process's own metrics still scrape.
  // The deadline is inside the cached computation, so a hung query is not the one every later scrape waits on.
  const read = (): Promise<CatalogFigures | undefined> => figures.get('catalog', () => withTimeout(readCatalogFigures(catalog), CATALOG_FIGURES_TIMEOUT_MS, 'the catalog')).catch(() => undefined);

  new Gauge({
    name: 'inlet_catalog_up',
    help: '1 when the catalog answered the figures of this scrape, 0 when it did not',
    registers,
    async collect() {
      this.set((await read()) ? 1 : 0);
    },
  });

  new Gauge({
    name: 'inlet_jobs',
    help: 'Batch jobs in the catalog by status (all orgs, all worker processes)',
    labelNames: ['status'],
    registers,
    async collect() {
      this.reset();
      const { jobs } = (await read()) ?? {};
      if (!jobs) return;
      for (const status of JOB_STATUSES) this.set({ status }, jobs[status]);
    },
  });
  new Gauge({
    name: 'inlet_tasks',
    help: 'LIST and INDEX tasks in the catalog by state; READY tasks are the queue',
    labelNames: ['type', 'state'],
    registers,
    async collect() {
      this.reset();
      const { tasks } = (await read()) ?? {};
      if (!tasks) return;
      for (const type of TASK_TYPES) for (const state of TASK_STATES) this.set({ type, state }, tasks[type][state]);
    },
  });
  new Gauge({
    name: 'inlet_task_queue_depth',
    help: 'Tasks waiting for a worker (state READY)',
    registers,
    async collect() {
      this.reset();
      const { tasks } = (await read()) ?? {};
      if (tasks) this.set(tasks.LIST.READY + tasks.INDEX.READY);
    },
  });
  // Gauges, not counters: deleting a job takes its rows out of the catalog, so these can fall.
  new Gauge({
    name: 'inlet_rows',
    help: 'Rows of the jobs in the catalog: read from sources, written to partitions, rejected',
    labelNames: ['outcome'],
    registers,
    async collect() {
      this.reset();
      const { rows } = (await read()) ?? {};
      if (!rows) return;
      for (const outcome of ['read', 'written', 'rejected'] as const) this.set({ outcome }, rows[outcome]);
    },
  });
  new Gauge({
    name: 'inlet_source_bytes',
    help: 'Source object bytes read by the jobs in the catalog',
    registers,
    async collect() {
      this.reset();
      const figures = await read();
      if (figures) this.set(figures.bytesRead);
    },
  });
  new Gauge({
    name: 'inlet_files_failed',
    help: 'Source files of the jobs in the catalog that could not be read or converted',
    registers,
    async collect() {
      this.reset();
      const figures = await read();
      if (figures) this.set(figures.filesFailed);
    },
  });

  const workerUp =
    sources.worker && new Gauge({ name: 'inlet_worker_process_up', help: "1 when this API process's worker process answered with its metrics (inlet_task_*, inlet_s3_*, inlet_worker_*), 0 when it did not", registers });

  const queryProcessUp =
    sources.queryProcess &&
    new Gauge({
      name: 'inlet_query_process_up',
      help: "1 when this API process's query process answered with its metrics (inlet_query_cache_*, and Node's figures as inlet_query_process_* and inlet_query_nodejs_*), 0 when it did not (or has not started)",
      registers,
    });

  return {
    registry,
    render: async () => {
      // Asked first, so the up gauges in this registry's text are this scrape's.
      const [worker, queryProcess] = await Promise.all([sources.worker?.(), sources.queryProcess?.()]);
      workerUp?.set(worker === undefined ? 0 : 1);
      queryProcessUp?.set(queryProcess === undefined ? 0 : 1);
      const own = await registry.metrics();
      return [own, worker, queryProcess]
        .filter((text): text is string => text !== undefined && text !== '')
        .map((text) => (text.endsWith('\n') ? text : `${text}\n`))
        .join('');
    },
    httpRequests: new Counter({ name: 'inlet_http_requests_total', help: 'HTTP requests answered, by route pattern and status', labelNames: ['method', 'route', 'status'], registers }),
    httpDuration: new Histogram({
      name: 'inlet_http_request_duration_seconds',
      help: 'HTTP request latency, by route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    queries: new Counter({ name: 'inlet_queries_total', help: 'Queries answered by /query, by outcome (ok or error)', labelNames: ['outcome'], registers }),
    queryDuration: new Histogram({ name: 'inlet_query_duration_seconds', help: 'Query latency of /query, by outcome', labelNames: ['outcome'], buckets: LATENCY_BUCKETS, registers }),
    statusCache: new Counter({
      name: 'inlet_status_cache_requests_total',
      help: 'Job status and job views asked of the status cache (INLET_STATUS_CACHE_MS): hit (reused, or joined a computation under way) or miss (computed from the catalog)',
      labelNames: ['result'],
      registers,
    }),
  };
}
