import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { errorMessage } from '../../errors.js';
import { withTimeout } from '../../with-timeout.js';
import type { ApiContext } from '../context.js';

/** A catalog that does not answer in this long is as good as down for a load balancer. */
const CHECK_TIMEOUT_MS = 3000;

/** Probes for orchestrators and load balancers; no token, as they carry none. */
export function healthRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/health/live', async () => ({ status: 'live' }));
  app.get('/health/ready', async (_request, reply) => {
    try {
      await withTimeout(sql`select 1`.execute(ctx.catalog.db), CHECK_TIMEOUT_MS, 'the catalog');
      return { status: 'ready', checks: { catalog: { ok: true } } };
    } catch (err) {
      return reply.status(503).send({ status: 'unavailable', checks: { catalog: { ok: false, error: errorMessage(err) } } });
    }
  });
}
