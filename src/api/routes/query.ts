import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { QueryError } from '../../errors.js';
import { type HostedAnswer } from '../../query/host.js';
import { parseSettingsHeader } from '../../query/settings.js';
import { authenticate } from '../auth.js';
import type { ApiContext } from '../context.js';

declare module 'fastify' {
  interface FastifyRequest {
    inletQuery?: string;
  }
}

/**
 * Answers up to this many bytes whole, so an error or a limit hit within them is still a clean
 * 400; past it the answer streams, and a later failure can only end the body with the error.
 */
const BUFFERED_BYTES = 1024 * 1024;

async function* continueAfter(buffered: readonly string[], rest: AsyncIterator<string>): AsyncGenerator<string> {
  try {
    yield* buffered;
    for (;;) {
      let next: IteratorResult<string>;
      try {
        next = await rest.next();
      } catch (err) {
        // Status and part of the body are sent: end it with the error, as ClickHouse does.
        yield `\nCode: 0. DB::Exception: ${err instanceof Error ? err.message : String(err)}\n`;
        return;
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await rest.return?.(undefined);
  }
}

async function send(reply: FastifyReply, { contentType, body }: HostedAnswer): Promise<FastifyReply> {
  const buffered: string[] = [];
  let size = 0;
  while (size < BUFFERED_BYTES) {
    const next = await body.next();
    if (next.done) return reply.type(contentType).send(buffered.join(''));
    buffered.push(next.value);
    size += Buffer.byteLength(next.value);
  }
  return reply.type(contentType).send(Readable.from(continueAfter(buffered, body), { objectMode: false }));
}

export function queryRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const host = ctx.queries;
  // Started beside the API, not before it: the API serves whatever the query process does
  // (a query that comes too early waits for it; if it cannot start, queries answer 503).
  app.addHook('onReady', async () => void host.ready().catch((err: unknown) => app.log.error({ err: String(err) }, 'the query process did not start')));
  app.addHook('onClose', () => host.close());
  // SQL arrives as a raw body, whatever content type curl sends with --data.
  app.addContentTypeParser(['text/plain', 'application/x-www-form-urlencoded', 'application/sql'], { parseAs: 'string' }, (_req, body, done) => done(null, body));

  const handle = async (request: FastifyRequest<{ Querystring: Record<string, string> }>, reply: FastifyReply, text: unknown) => {
    request.inletQuery = typeof text === 'string' ? text : '';
    const user = await authenticate(ctx.catalog, request, true);
    if (typeof text !== 'string' || text.trim() === '') throw new QueryError('Empty query: send SQL as the POST body or as ?query=');
    const { query: _query, ...urlSettings } = request.query;
    const header = request.headers['x-hdx-query-settings'];
    // A client that goes away, waiting or mid-answer, interrupts its query at once.
    const clientGone = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) clientGone.abort();
    });
    const answer = await host.run(
      user,
      { text, headerSettings: parseSettingsHeader(Array.isArray(header) ? header.join(',') : header), urlSettings },
      clientGone.signal,
    );
    return send(reply, answer);
  };

  app.get<{ Querystring: Record<string, string> }>('/query', (request, reply) => handle(request, reply, request.query.query));
  app.post<{ Querystring: Record<string, string>; Body: unknown }>('/query', (request, reply) => {
    const body = typeof request.body === 'string' && request.body.trim() !== '' ? request.body : request.query.query;
    return handle(request, reply, body);
  });
}
