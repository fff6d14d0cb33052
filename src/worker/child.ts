// The worker process `inlet serve` forks: runs the worker pool with the parent's configuration.
import { openCatalog } from '../catalog/db.js';
import type { Config } from '../config/config.js';
import { errorMessage } from '../errors.js';
import { createLogger } from '../log.js';
import { Sources } from '../sources/sources.js';
import { PartitionStorage } from '../storage/storage.js';
import { WorkerPool } from './pool.js';
import type { ChildMessage, ParentMessage } from './process.js';

const config = JSON.parse(process.env.INLET_WORKER_CONFIG ?? 'null') as Config | null;
if (!config || !process.send) throw new Error('the worker process is started by `inlet serve`, not by hand: use `inlet serve --role worker`');
const send = process.send.bind(process);
const log = createLogger(config.logLevel).child({ component: 'worker', pid: process.pid });
const catalog = await openCatalog(config.databaseUrl);
const onJobChanged = (orgId: string, jobId: string) => {
  if (process.connected) send({ type: 'job-changed', orgId, jobId } satisfies ChildMessage);
};
const pool = new WorkerPool({ catalog, config, sources: new Sources(config), storage: new PartitionStorage(config, catalog), log, onJobChanged }, config.workers);
await pool.start();

let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  await pool.stop();
  await catalog.close();
  process.exit(code);
};
process.on('message', (message: ParentMessage) => {
  if (message.type === 'nudge') pool.nudge();
  if (message.type === 'stop') stop(0).catch((err: unknown) => log.error({ err: errorMessage(err) }, 'stopping failed'));
});
// The parent died without telling us (killed): stop at once, as it did. Our leases expire and
// the tasks run again when Inlet restarts; nothing half-done was committed.
process.on('disconnect', () => {
  if (!stopping) process.exit(1);
});
// SIGTERM and SIGINT reach the whole process group; the parent decides when we stop.
process.on('SIGTERM', () => undefined);
process.on('SIGINT', () => undefined);
send({ type: 'ready' });
