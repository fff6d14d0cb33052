import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../errors.js';
import { refuseNonText } from './text-input.js';

/** Largest request body: room for a transform at its limits, /validator samples and SQL, with a bound on what one request holds in memory. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * Deepest nesting of arrays and objects a JSON body may have. Every document Inlet reads is a
 * few levels deep (sample records for /validator a few more), and deeper ones overflow the stack
 * of whatever walks them recursively (JSON.stringify, schema validation).
 */
export const MAX_JSON_DEPTH = 100;

/** Fastify's JSON body parser (with its prototype-poisoning checks), behind a nesting-depth check, its strings checked to be text. */
export function installJsonBodyParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (nestedDeeperThan(text, MAX_JSON_DEPTH)) {
      done(new ValidationError(`the JSON body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep: flatten it`), undefined);
      return;
    }
    parse(request, text, (err, value) => {
      if (err) return done(err, undefined);
      try {
        refuseNonText(value, '', DATA_FIELDS[request.routeOptions.url ?? '']);
      } catch (refused) {
        return done(refused as Error, undefined);
      }
      done(null, value);
    });
  });
}

/** Top-level body fields of a route that carry sample records rather than names or settings: any text may be sent in them. */
const DATA_FIELDS: Record<string, ReadonlySet<string>> = { '/validator': new Set(['data']) };

/** One pass over the text, outside strings, counting open brackets; it stops at the first too deep. */
function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}
