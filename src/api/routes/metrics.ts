import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AuthenticationError } from '../../errors.js';
import type { ApiContext } from '../context.js';

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Digests of equal length, so the comparison takes the same time whatever the guess. */
function carriesToken(request: FastifyRequest, token: string): boolean {
  const [scheme, value] = (request.headers.authorization ?? '').split(/\s+/, 2);
  return scheme?.toLowerCase() === 'bearer' && value !== undefined && timingSafeEqual(digest(value), digest(token));
}

/** Prometheus text format; open unless INLET_METRICS_TOKEN is set, since scrapers rarely log in. */
export function metricsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { registry } = ctx.metrics;
  app.get('/metrics', async (request, reply) => {
    const token = ctx.config.metricsToken;
    if (token !== undefined && !carriesToken(request, token)) {
      throw new AuthenticationError('/metrics needs "Authorization: Bearer <INLET_METRICS_TOKEN>": set bearer_token (or authorization.credentials) in the Prometheus scrape config');
    }
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
