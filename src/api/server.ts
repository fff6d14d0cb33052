import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import { authenticate, installSessionCache } from './auth.js';
import type { ApiContext } from './context.js';
import { installErrorHandler } from './error-handler.js';
import { installJsonBodyParser, MAX_BODY_BYTES } from './body-limits.js';
import { recordHttpMetrics } from '../metrics/http.js';
import { authRoutes } from './routes/auth.js';
import { consoleRoutes } from './routes/console.js';
import { healthRoutes } from './routes/health.js';
import { jobRoutes } from './routes/jobs.js';
import { metricsRoutes } from './routes/metrics.js';
import { openApiRoutes } from './routes/openapi.js';
import { queryRoutes } from './routes/query.js';
import { resourceRoutes } from './routes/resources.js';
import { storageRoutes } from './routes/storages.js';
import { validatorRoutes } from './routes/validator.js';

export const VERSION = '0.1.0';

/** Routes that need no token: logging in, and the version probe. */
const PUBLIC_ROUTES = new Set(['/config/v1/login', '/version']);

export function buildServer(ctx: ApiContext, logger: Logger): FastifyInstance {
  const app = Fastify({
    // Per-request lines would drown the log while dashboards poll status; errors still show.
    loggerInstance: logger.child({ component: 'api' }, { level: 'warn' }) as FastifyBaseLogger,
    // Hydrolix clients write paths with and without the trailing slash.
    routerOptions: { ignoreTrailingSlash: true },
    bodyLimit: MAX_BODY_BYTES,
  });
  installErrorHandler(app);
  installSessionCache(app);
  installJsonBodyParser(app);
  recordHttpMetrics(app, ctx.metrics);
  // First: it learns the routes added after it.
  openApiRoutes(app, VERSION);
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url ?? '';
    if (!route.startsWith('/config/v1/') || PUBLIC_ROUTES.has(route)) return;
    request.user = await authenticate(ctx.catalog, request, false);
  });
  app.get('/version', async (_request, reply) => reply.type('text/plain').send(`inlet ${VERSION}\n`));
  authRoutes(app, ctx);
  resourceRoutes(app, ctx);
  storageRoutes(app, ctx);
  jobRoutes(app, ctx);
  queryRoutes(app, ctx);
  validatorRoutes(app, ctx);
  healthRoutes(app, ctx);
  metricsRoutes(app, ctx);
  consoleRoutes(app);
  return app;
}
