import type { FastifyInstance, FastifyRequest } from 'fastify';
import { QueryError } from '../../errors.js';
import { toJson, toTabSeparated } from '../../query/output.js';
import { runQuery } from '../../query/run.js';
import { authenticate } from '../auth.js';
import type { ApiContext } from '../context.js';

declare module 'fastify' {
  interface FastifyRequest {
    inletQuery?: string;
  }
}

export function queryRoutes(app: FastifyInstance, ctx: ApiContext): void {
  // SQL arrives as a raw body, whatever content type curl sends with --data.
  app.addContentTypeParser(['text/plain', 'application/x-www-form-urlencoded', 'application/sql'], { parseAs: 'string' }, (_req, body, done) => done(null, body));

  const handle = async (request: FastifyRequest, text: unknown) => {
    request.inletQuery = typeof text === 'string' ? text : '';
    const user = await authenticate(ctx.catalog, request, true);
    if (typeof text !== 'string' || text.trim() === '') throw new QueryError('Empty query: send SQL as the POST body or as ?query=');
    const { format, result } = await runQuery(ctx.catalog, ctx.config, user, text);
    return format === 'JSON'
      ? { type: 'application/json; charset=UTF-8', body: toJson(result) }
      : { type: 'text/tab-separated-values; charset=UTF-8', body: toTabSeparated(result) };
  };

  app.get<{ Querystring: { query?: string } }>('/query', async (request, reply) => {
    const out = await handle(request, request.query.query);
    return reply.type(out.type).send(out.body);
  });
  app.post<{ Querystring: { query?: string }; Body: unknown }>('/query', async (request, reply) => {
    const body = typeof request.body === 'string' && request.body.trim() !== '' ? request.body : request.query.query;
    const out = await handle(request, body);
    return reply.type(out.type).send(out.body);
  });
}
