// The worker process `inlet serve` forks: runs the worker pool with the parent's configuration.
// Only what watching the parent needs is imported up front: the rest (DuckDB, the AWS SDK, the
// catalog) takes seconds to load on a busy machine, and a parent killed meanwhile must still
// take this process with it.
import type { Catalog } from '../catalog/db.js';
import type { Config } from '../config/config.js';
import { errorMessage } from '../errors.js';
import { createLogger } from '../log.js';
import type { WorkerMetrics } from '../metrics/worker.js';
import { exitWithParent } from './parent-watch.js';
import type { WorkerPool } from './pool.js';
import { PARENT_PID_ENV, type ChildMessage, type ParentMessage } from './process.js';

const config = JSON.parse(process.env.INLET_WORKER_CONFIG ?? 'null') as Config | null;
if (!config || !process.send) throw new Error('the worker process is started by `inlet serve`, not by hand: use `inlet serve --role worker`');
const log = createLogger(config.logLevel).child({ component: 'worker', pid: process.pid });
const PARENT_GONE = 'the inlet server process is gone; the worker process exits (its tasks run again once their leases expire)';

// A parent that dies mid-send fails the write (EPIPE): the callback takes that error, and
// 'disconnect' below ends the process, instead of an unhandled 'error' event and a stack trace.
const send = (message: ChildMessage) => {
  if (process.connected) process.send!(message, undefined, undefined, () => undefined);
};
// Nothing here needs cleaning up once the parent is gone (uncommitted work is never visible), and
// process.exit() can wait on native teardown (DuckDB's threads) after it has stopped the watch
// thread that would otherwise end a stuck process: end at once instead.
const parentGone = () => {
  log.warn(PARENT_GONE);
  process.kill(process.pid, 'SIGKILL');
};
exitWithParent(Number(process.env[PARENT_PID_ENV] ?? process.ppid), { component: 'worker', pid: process.pid, msg: PARENT_GONE }, (err) =>
  log.error({ err: errorMessage(err) }, 'the parent watch failed: a killed parent may leave this process behind'),
);

let metrics: WorkerMetrics | undefined;
let catalog: Catalog | undefined;
let pool: WorkerPool | undefined;
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await starting.catch(() => undefined);
  await pool?.stop();
  await catalog?.close();
  process.exit(0);
};
const stopOrExit = () =>
  stop().catch((err: unknown) => {
    log.error({ err: errorMessage(err) }, 'stopping failed');
    process.exit(1);
  });
// Listening before anything is awaited: a stop that comes while the pool starts is not lost.
process.on('message', (message: ParentMessage) => {
  if (message.type === 'nudge') pool?.nudge();
  if (message.type === 'stop') void stopOrExit();
  if (message.type === 'metrics') {
    const { id } = message;
    (metrics?.registry.metrics() ?? Promise.resolve('')).then(
      (text) => send({ type: 'metrics', id, text }),
      (err: unknown) => log.warn({ err: errorMessage(err) }, 'collecting the worker metrics failed'),
    );
  }
});
// The parent died without telling us (killed): stop at once, as it did. Our leases expire and
// the tasks run again when Inlet restarts; nothing half-done was committed.
process.on('disconnect', () => {
  if (!stopping) parentGone();
});
// Killed while this process was still loading: the channel closed before anyone listened.
if (!process.connected) parentGone();
// SIGINT (Ctrl-C) reaches the whole process group: the parent decides when we stop. The parent
// sends SIGTERM only when it stops us before we said ready.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => void stopOrExit());

const starting = (async () => {
  const [{ openCatalog }, { catalogPoolSize }, { createWorkerMetrics }, { Sources }, { PartitionStorage }, { WorkerPool }] = await Promise.all([
    import('../catalog/db.js'),
    import('../config/config.js'),
    import('../metrics/worker.js'),
    import('../sources/sources.js'),
    import('../storage/storage.js'),
    import('./pool.js'),
  ]);
  metrics = createWorkerMetrics();
  catalog = await openCatalog(config.databaseUrl, {
    poolSize: catalogPoolSize(config, 'worker'),
    onConnectionError: (err) => log.warn({ err: err.message }, 'a catalog connection broke; the next statement opens another'),
  });
  const onJobChanged = (orgId: string, jobId: string) => send({ type: 'job-changed', orgId, jobId });
  pool = new WorkerPool({ catalog, config, sources: new Sources(config, undefined, metrics.s3), storage: new PartitionStorage(config, catalog, metrics.s3), log, onJobChanged, metrics }, config.workers);
  await pool.start();
})();
starting.then(
  () => send({ type: 'ready' }),
  (err: unknown) => {
    log.fatal({ err: errorMessage(err) }, 'the worker process could not start');
    process.exit(1);
  },
);
