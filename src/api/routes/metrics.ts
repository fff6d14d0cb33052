import type { FastifyInstance } from 'fastify';
import { AuthenticationError } from '../../errors.js';
import { carriesBearerToken, METRICS_TOKEN_HELP } from '../../metrics/token.js';
import type { ApiContext } from '../context.js';

/** Prometheus text format; open unless INLET_METRICS_TOKEN is set, since scrapers rarely log in. */
export function metricsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/metrics', async (request, reply) => {
    const token = ctx.config.metricsToken;
    if (token !== undefined && !carriesBearerToken(request.headers.authorization, token)) throw new AuthenticationError(`/metrics ${METRICS_TOKEN_HELP}`);
    return reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.render());
  });
}
