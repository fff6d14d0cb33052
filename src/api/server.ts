import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import { authenticate, installAccess, routeAccess } from './auth.js';
import { PUBLIC } from '../auth/permissions.js';
import type { ApiContext } from './context.js';
import { installErrorHandler } from './error-handler.js';
import { installJsonBodyParser, MAX_BODY_BYTES } from './body-limits.js';
import { installTextChecks } from './text-input.js';
import { recordHttpMetrics } from '../metrics/http.js';
import { accountRoutes } from './routes/accounts.js';
import { authRoutes } from './routes/auth.js';
import { consoleRoutes } from './routes/console.js';
import { credentialRoutes } from './routes/credentials.js';
import { healthRoutes } from './routes/health.js';
import { jobRoutes } from './routes/jobs.js';
import { metricsRoutes } from './routes/metrics.js';
import { openApiRoutes } from './routes/openapi.js';
import { queryRoutes } from './routes/query.js';
import { resourceRoutes } from './routes/resources.js';
import { serviceAccountRoutes } from './routes/service-accounts.js';
import { storageRoutes } from './routes/storages.js';
import { validatorRoutes } from './routes/validator.js';
import { VERSION } from '../version.js';

export { VERSION };

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route as registered (HEAD routes Fastify adds included): the access matrices are generated from it. */
    readonly registeredRoutes: readonly { method: string; url: string }[];
  }
}

/** Routes whose handlers call authenticate themselves: /query also takes basic auth, and says which query failed. */
const AUTHENTICATED_IN_HANDLER = new Set(['/query', '/validator']);

export function buildServer(ctx: ApiContext, logger: Logger): FastifyInstance {
  const app = Fastify({
    // Per-request lines would drown the log while dashboards poll status; errors still show.
    loggerInstance: logger.child({ component: 'api' }, { level: 'warn' }) as FastifyBaseLogger,
    // Hydrolix clients write paths with and without the trailing slash.
    routerOptions: { ignoreTrailingSlash: true },
    bodyLimit: MAX_BODY_BYTES,
  });
  installErrorHandler(app);
  installAccess(app, ctx.access);
  installJsonBodyParser(app);
  installTextChecks(app, (route) => route === '/query' || route.startsWith('/query/'));
  const routes: { method: string; url: string }[] = [];
  app.decorate('registeredRoutes', routes);
  // Fail closed: a route nobody gave a permission (auth/permissions.ts) stops the server from starting.
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (routeAccess(method, route.url) === undefined) throw new Error(`route ${method} ${route.url} has no entry in ROUTE_ACCESS (src/auth/permissions.ts): give it the permission it needs`);
      routes.push({ method, url: route.url });
    }
  });
  recordHttpMetrics(app, ctx.metrics);
  // First: it learns the routes added after it.
  openApiRoutes(app, VERSION);
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url;
    // No route (a 404), no token needed, or the route authenticates in its handler (basic auth on /query).
    if (route === undefined || routeAccess(request.method, route) === PUBLIC || AUTHENTICATED_IN_HANDLER.has(route)) return;
    request.user = await authenticate(ctx.catalog, request, false);
  });
  app.get('/version', async (_request, reply) => reply.type('text/plain').send(`inlet ${VERSION}\n`));
  authRoutes(app, ctx);
  accountRoutes(app, ctx);
  serviceAccountRoutes(app, ctx);
  credentialRoutes(app, ctx);
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
