import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { errorMessage } from '../../errors.js';
import { withTimeout } from '../../with-timeout.js';
import type { ApiContext } from '../context.js';

/** A catalog or bucket that does not answer in this long is as good as down for a load balancer. */
const CHECK_TIMEOUT_MS = 3000;

type Check = { ok: true } | { ok: false; error: string };

const outcome = (work: Promise<unknown>): Promise<Check> =>
  work.then(
    (): Check => ({ ok: true }),
    (err: unknown): Check => ({ ok: false, error: errorMessage(err) }),
  );

/** Probes for orchestrators and load balancers; no token, as they carry none. */
export function healthRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/health/live', async () => ({ status: 'live' }));
  app.get('/health/ready', async (_request, reply) => {
    // The bucket is checked only when partitions are in object storage: queries read them there.
    const [catalog, storage] = await Promise.all([
      outcome(withTimeout(sql`select 1`.execute(ctx.catalog.db), CHECK_TIMEOUT_MS, 'the catalog')),
      ctx.storage
        .probeDefault(AbortSignal.timeout(CHECK_TIMEOUT_MS))
        .then((remote) => (remote ? ({ ok: true } as Check) : undefined))
        .catch((err: unknown): Check => ({ ok: false, error: errorMessage(err) })),
    ]);
    const checks = { catalog, ...(storage ? { storage } : {}) };
    if (catalog.ok && (storage?.ok ?? true)) return { status: 'ready', checks };
    return reply.status(503).send({ status: 'unavailable', checks });
  });
}
