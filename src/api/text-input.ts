import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../errors.js';
import { shortened } from '../names.js';

/**
 * What a request's strings may not hold: PostgreSQL's text refuses NUL (a catalog on it answered
 * 500 for any name holding one, the login's user included), and an unpaired UTF-16 surrogate,
 * which JSON's `\ud800` escape can make, is not text at all (each catalog stores it as a
 * different replacement, so two names that were sent apart read back alike).
 */
export function notText(value: string): string | undefined {
  if (value.includes('\u0000')) return 'a NUL byte (\\u0000)';
  if (UNPAIRED_SURROGATE.test(value)) return 'an unpaired UTF-16 surrogate (half of a pair, as \\ud800 alone)';
  return undefined;
}

// With the u flag a pair is one code point: only a lone half is of category Cs.
const UNPAIRED_SURROGATE = /\p{Cs}/u;

/**
 * Throws a ValidationError naming the first string (value or key) of a parsed JSON document that
 * is not text, by its path (`settings.source.table`, `output_columns[2].name`). `skip` names
 * top-level fields that carry data rather than names or settings, left as they are.
 */
export function refuseNonText(value: unknown, where: string, skip: ReadonlySet<string> = new Set()): void {
  if (typeof value === 'string') {
    const reason = notText(value);
    if (reason) throw new ValidationError(`${where || 'the body'} is ${shortened(value)}: it holds ${reason}, which no name, setting or field may; remove it`);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => refuseNonText(v, `${where}[${i}]`));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, v] of Object.entries(value)) {
      const path = where ? `${where}.${key}` : key;
      const reason = notText(key);
      if (reason) throw new ValidationError(`the key ${shortened(key)} in ${where || 'the body'} holds ${reason}, which no field name may; remove it`);
      if (!(where === '' && skip.has(key))) refuseNonText(v, path);
    }
  }
}

/**
 * Path parameters and query-string values go to catalog lookups as they are: checked before any
 * handler. The query API's parameters are its own (SQL text and settings), checked there.
 */
export function installTextChecks(app: FastifyInstance, ownChecks: (route: string) => boolean): void {
  app.addHook('preValidation', async (request) => {
    const route = request.routeOptions.url;
    if (route === undefined || ownChecks(route)) return;
    for (const [kind, values] of [
      ['path parameter', request.params],
      ['query parameter', request.query],
    ] as const) {
      if (typeof values !== 'object' || values === null) continue;
      for (const [name, value] of Object.entries(values as Record<string, unknown>)) {
        for (const text of [value].flat()) {
          const reason = typeof text === 'string' ? notText(text) : undefined;
          if (reason) throw new ValidationError(`${kind} ${name} is ${shortened(text)}: it holds ${reason}; remove it`);
        }
      }
    }
  });
}
