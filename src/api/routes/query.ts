import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { QueryError } from '../../errors.js';
import { clickhouseException } from '../../query/exception.js';
import { type HostedAnswer } from '../../query/host.js';
import { parameterValues } from '../../query/parameters.js';
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
        yield `\n${clickhouseException(err instanceof Error ? err.message : String(err)).text}\n`;
        return;
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await rest.return?.(undefined);
  }
}

/** ClickHouse's HTTP interface: URL parameters that are not settings; the query id is answered back, the rest has no effect here. */
const HTTP_PARAMETERS = new Set(['query', 'default_format', 'database', 'query_id', 'session_id', 'session_timeout', 'session_check', 'role', 'compress', 'decompress']);

/** The longest query_id taken: it is answered back in a header, and ClickHouse's own are UUIDs. */
const MAX_QUERY_ID_CHARS = 256;
/** What a query_id may show of itself in an error: enough to recognise it. */
const SHOWN_QUERY_ID_CHARS = 64;

/**
 * The caller's query_id, or a new UUID. It is answered back in X-ClickHouse-Query-Id, where
 * Node refuses control characters and anything past Latin-1 (and Latin-1 would reach the client
 * as other characters): checked before anything runs, as printable ASCII only.
 */
function queryIdOf(value: unknown): string {
  if (typeof value !== 'string' || value === '') return randomUUID();
  if (value.length <= MAX_QUERY_ID_CHARS && /^[\x20-\x7e]*$/.test(value)) return value;
  const shown = value.length > SHOWN_QUERY_ID_CHARS ? `${JSON.stringify(`${value.slice(0, SHOWN_QUERY_ID_CHARS)}...`)} (${value.length} characters)` : JSON.stringify(value);
  throw new QueryError(
    `query_id=${shown} is not valid: it is answered back in the X-ClickHouse-Query-Id header, so send printable ASCII (space to ~), at most ${MAX_QUERY_ID_CHARS} characters, or leave it out for a new UUID (BAD_ARGUMENTS)`,
  );
}

/** ClickHouse's response headers: the format, the query's id, and what it reads (its summary, as ClickHouse writes it: numbers as strings). */
function clickhouseHeaders(reply: FastifyReply, queryId: string, { format, statistics }: HostedAnswer): void {
  const summary = {
    read_rows: String(statistics.rows_read),
    read_bytes: String(statistics.bytes_read),
    written_rows: '0',
    written_bytes: '0',
    total_rows_to_read: String(statistics.rows_read),
    result_rows: '0',
    result_bytes: '0',
    elapsed_ns: String(Math.round(statistics.elapsed * 1e9)),
  };
  reply.header('x-clickhouse-format', format).header('x-clickhouse-query-id', queryId).header('x-clickhouse-timezone', 'UTC').header('x-clickhouse-summary', JSON.stringify(summary));
}

/** A query's error as ClickHouse writes it (`Code: N. DB::Exception: ... (NAME)`, and the code as a header), same kind and status. */
function asClickhouseError(reply: FastifyReply, err: unknown): unknown {
  if (!(err instanceof QueryError)) return err;
  const { code, text } = clickhouseException(err.message);
  reply.header('x-clickhouse-exception-code', String(code));
  if (text === err.message) return err;
  const Kind = err.constructor as new (message: string) => QueryError;
  return new Kind(text);
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
  // ClickHouse's ping, which its clients call before anything else: no credentials, as ClickHouse.
  app.get('/query/ping', (_request, reply) => reply.type('text/plain; charset=UTF-8').send('Ok.\n'));

  const handle = async (request: FastifyRequest<{ Querystring: Record<string, string> }>, reply: FastifyReply, text: unknown) => {
    request.inletQuery = typeof text === 'string' ? text : '';
    const user = await authenticate(ctx.catalog, request, true);
    if (typeof text !== 'string' || text.trim() === '') throw new QueryError('Empty query: send SQL as the POST body or as ?query=');
    const urlSettings = Object.fromEntries(Object.entries(request.query).filter(([name]) => !HTTP_PARAMETERS.has(name) && !name.startsWith('param_')));
    const defaultFormat = typeof request.query.default_format === 'string' ? request.query.default_format : undefined;
    const queryId = queryIdOf(request.query.query_id);
    const header = request.headers['x-hdx-query-settings'];
    // A client that goes away, waiting or mid-answer, interrupts its query at once.
    const clientGone = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) clientGone.abort();
    });
    const answer = await host.run(
      user,
      { text, headerSettings: parseSettingsHeader(Array.isArray(header) ? header.join(',') : header), urlSettings, params: parameterValues(request.query), defaultFormat },
      clientGone.signal,
    );
    clickhouseHeaders(reply, queryId, answer);
    return send(reply, answer);
  };
  const answer = (request: FastifyRequest<{ Querystring: Record<string, string> }>, reply: FastifyReply, text: unknown) =>
    handle(request, reply, text).catch((err: unknown) => {
      throw asClickhouseError(reply, err);
    });

  app.get<{ Querystring: Record<string, string> }>('/query', (request, reply) => answer(request, reply, request.query.query));
  // ClickHouse takes the SQL whatever the body's content type says (its clients send none, or their own).
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    scope.post<{ Querystring: Record<string, string>; Body: unknown }>('/query', (request, reply) => {
      const body = typeof request.body === 'string' && request.body.trim() !== '' ? request.body : request.query.query;
      return answer(request, reply, body);
    });
  });
}
