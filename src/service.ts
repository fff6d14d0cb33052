import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { setFlagsFromString } from 'node:v8';
import type { FastifyInstance } from 'fastify';
import { buildServer } from './api/server.js';
import { LoginLimiter } from './auth/login-limiter.js';
import { QueryHost } from './query/host.js';
import { generatePassword, hashPassword, verifyPassword } from './auth/password.js';
import { SecretBox } from './auth/secret-box.js';
import { ServiceTokens } from './auth/service-tokens.js';
import { countUsers, createOrgWithUser, findUserByEmail } from './catalog/accounts.js';
import { openCatalog, type Catalog } from './catalog/db.js';
import { ParsedTransforms, PARSED_TRANSFORMS_KEPT } from './catalog/parsed.js';
import { catalogPoolSize, type Config } from './config/config.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics } from './metrics/metrics.js';
import { serveMetrics, type MetricsServer } from './metrics/serve.js';
import { createWorkerMetrics } from './metrics/worker.js';
import { Sources } from './sources/sources.js';
import { PartitionStorage } from './storage/storage.js';
import { scratchRoot } from './worker/context.js';
import { WorkerPool } from './worker/pool.js';
import { startWorkerProcess, WORKER_V8_FLAGS, type WorkerProcess } from './worker/process.js';

export interface Service {
  readonly catalog: Catalog;
  readonly url: string | undefined;
  readonly app: FastifyInstance | undefined;
  /** The admin password when this start generated it (shown once). */
  readonly generatedPassword: string | undefined;
  /** The forked worker process (role `all`), for tools that measure it. */
  readonly workerPid: number | undefined;
  /** Where a `worker` role process serves its metrics (INLET_METRICS_PORT), if it does. */
  readonly metricsUrl: string | undefined;
  stop(): Promise<void>;
}

/**
 * First start: an admin and a default org, so a new install can log in at once. Later starts
 * leave the users alone, and say so when INLET_ADMIN_PASSWORD asks for another password.
 */
async function ensureAdmin(catalog: Catalog, config: Config, log: Logger): Promise<string | undefined> {
  if ((await countUsers(catalog.db)) > 0) {
    if (config.adminPassword === undefined) return undefined;
    const admin = await findUserByEmail(catalog.db, config.adminEmail);
    const reset = `to set it, run: inlet admin reset-password --email ${config.adminEmail} --password <new> (npm run inlet -- admin reset-password ...)`;
    if (!admin) {
      log.warn(
        { email: config.adminEmail },
        `INLET_ADMIN_PASSWORD is ignored: the catalog has users already, and none is INLET_ADMIN_EMAIL "${config.adminEmail}" (the admin is created on the first start only); ${reset}`,
      );
    } else if (!(await verifyPassword(config.adminPassword, admin.password_hash))) {
      log.warn({ email: config.adminEmail }, `INLET_ADMIN_PASSWORD is ignored: the admin user exists already, with another password (it is set on the first start only); ${reset}`);
    }
    return undefined;
  }
  const password = config.adminPassword ?? generatePassword();
  await createOrgWithUser(catalog.db, 'default', config.adminEmail, await hashPassword(password));
  log.info({ email: config.adminEmail }, 'created the admin user and the "default" org');
  return config.adminPassword ? undefined : password;
}

/** Starts what the role asks for: the API server, the worker pool, or both (`all`, the default). */
export async function startService(config: Config, logger: Logger = createLogger(config.logLevel)): Promise<Service> {
  await mkdir(scratchRoot(config), { recursive: true });
  const catalog = await openCatalog(config.databaseUrl, {
    poolSize: catalogPoolSize(config, config.role === 'worker' ? 'worker' : 'api'),
    onConnectionError: (err) => logger.warn({ err: err.message }, 'a catalog connection broke; the next statement opens another'),
  });
  // A worker role process's own metrics: its claims, tasks and S3 requests (sources and storage).
  const workerMetrics = config.role === 'worker' ? createWorkerMetrics() : undefined;
  const storage = new PartitionStorage(config, catalog, workerMetrics?.s3);
  await storage.prepare();
  const generatedPassword = await ensureAdmin(catalog, config, logger);
  const sources = new Sources(config, undefined, workerMetrics?.s3);

  // `all` forks one worker process beside the API; `worker` is such a process (or a scaled-out worker).
  let pool: WorkerPool | undefined;
  let workerProcess: WorkerProcess | undefined;
  let metricsServer: MetricsServer | undefined;
  // The API's cached status views are dropped when this process's workers commit a task.
  const jobChanges = new EventEmitter();
  const jobChanged = (orgId: string, jobId: string) => jobChanges.emit('changed', orgId, jobId);
  if (config.role === 'worker' && config.workers > 0) {
    // A forked worker process has them from its start; a scaled-out one sets them here, before its first task.
    setFlagsFromString(WORKER_V8_FLAGS.join(' '));
    pool = new WorkerPool({ catalog, config, sources, storage, log: logger.child({ component: 'worker' }), metrics: workerMetrics }, config.workers);
    await pool.start();
    if (workerMetrics && config.metricsPort !== undefined) {
      metricsServer = await serveMetrics(workerMetrics.registry, { host: config.host, port: config.metricsPort, token: config.metricsToken }, logger).catch(async (err: unknown) => {
        await pool?.stop();
        throw err;
      });
    }
  } else if (config.role === 'all' && config.workers > 0) {
    workerProcess = startWorkerProcess(config, logger, jobChanged);
  }
  let app: FastifyInstance | undefined;
  let url: string | undefined;
  if (config.role !== 'worker') {
    const access = {
      serviceTokens: await ServiceTokens.load(catalog.db),
      loginLimiter: new LoginLimiter({ maxFailuresPerAccount: config.loginMaxFailures, maxFailuresPerAddress: config.loginMaxFailuresPerAddress, windowSeconds: config.loginWindowSeconds }),
      secrets: SecretBox.fromKey(config.secretKey),
    };
    const queries = new QueryHost(config, logger.child({ component: 'query' }), catalog.changes);
    app = buildServer(
      {
        catalog,
        access,
        config,
        sources,
        storage,
        transforms: new ParsedTransforms(PARSED_TRANSFORMS_KEPT),
        queries,
        nudgeWorkers: () => workerProcess?.nudge(),
        onJobChanged: (listener) => void jobChanges.on('changed', listener),
        metrics: createMetrics(catalog, { worker: workerProcess?.metrics, queryProcess: () => queries.metrics() }),
      },
      logger,
    );
    // A port in use must not leave the worker process running behind a failed start.
    const address = await app.listen({ host: config.host, port: config.port }).catch(async (err: unknown) => {
      await workerProcess?.stop();
      throw err;
    });
    url = address.replace('0.0.0.0', 'localhost');
  }
  let stopped: Promise<void> | undefined;
  return {
    catalog,
    url,
    app,
    generatedPassword,
    workerPid: workerProcess?.pid,
    metricsUrl: metricsServer?.url,
    stop: () =>
      (stopped ??= (async () => {
        await Promise.all([app?.close(), metricsServer?.close()]);
        await Promise.all([pool?.stop(), workerProcess?.stop()]);
        await catalog.close();
        storage.close();
      })()),
  };
}
