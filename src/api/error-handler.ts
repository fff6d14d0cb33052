import type { FastifyError, FastifyInstance } from 'fastify';
import { asStorageFull, InletError, QueryError, RateLimitError } from '../errors.js';
import { MAX_BODY_BYTES } from './body-limits.js';

/** Longest message an error answer carries: one quoting a value from a 16 MiB body would otherwise echo it whole. */
const MAX_MESSAGE_CHARS = 4096;
const capped = (text: string) => (text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}... (cut at ${MAX_MESSAGE_CHARS} of ${text.length} characters)` : text);

/** The one place errors become HTTP responses: `{"detail": ...}` as the Hydrolix API answers. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | Error, request, reply) => {
    if (err instanceof QueryError) {
      // The query API answers like ClickHouse behind Hydrolix: {"error", "query"}.
      return reply.status(err.httpStatus).send({ error: capped(err.message), query: capped((request as { inletQuery?: string }).inletQuery ?? '') });
    }
    const full = asStorageFull(err);
    if (full) {
      request.log.error({ err }, 'storage is full');
      return reply.status(full.httpStatus).header('retry-after', '60').send({ detail: full.message });
    }
    if (err instanceof RateLimitError) return reply.status(err.httpStatus).header('retry-after', String(err.retryAfterSeconds)).send({ detail: err.message });
    if (err instanceof InletError) return reply.status(err.httpStatus).send({ detail: capped(err.message) });
    const fastifyError = err as FastifyError;
    if (fastifyError.validation) {
      return reply.status(400).send({ detail: capped(`request ${fastifyError.validationContext ?? 'body'} is invalid: ${fastifyError.message}`) });
    }
    if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.status(413).send({ detail: `the request body is larger than ${MAX_BODY_BYTES} bytes (16 MiB): send less at once` });
    }
    if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
      return reply.status(fastifyError.statusCode).send({ detail: capped(fastifyError.message) });
    }
    request.log.error({ err }, 'unhandled error');
    return reply.status(500).send({ detail: 'internal error: see the server log' });
  });
  app.setNotFoundHandler((request, reply) => reply.status(404).send({ detail: `no route for ${request.method} ${request.url.split('?')[0]}` }));
}
