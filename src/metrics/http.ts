import type { FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.js';

/** Label for requests that matched no route: raw URLs would let any client grow the series without bound. */
const UNMATCHED = 'unmatched';

/** Records every answered request by its route pattern, and /query's answers as queries. */
export function recordHttpMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? UNMATCHED;
    const labels = { method: request.method, route, status: String(reply.statusCode) };
    const seconds = reply.elapsedTime / 1000;
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, seconds);
    if (route === '/query') {
      const outcome = reply.statusCode < 400 ? 'ok' : 'error';
      metrics.queries.inc({ outcome });
      metrics.queryDuration.observe({ outcome }, seconds);
    }
  });
}
