import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import fastifyStatic from '@fastify/static';

/** Where `vite build` puts the console (ui/vite.config.ts); ui/build.ts builds it when stale. */
export const CONSOLE_DIST = new URL('../../../ui/dist/', import.meta.url);

/**
 * The web console at /ui/: static files only. It talks to the same HTTP API as any client, with
 * the user's own token, so it needs no route or permission of its own.
 */
export function consoleRoutes(app: FastifyInstance, dist: URL = CONSOLE_DIST): void {
  const hidden = { schema: { hide: true } };
  if (!existsSync(new URL('index.html', dist))) {
    const notBuilt = async (_request: unknown, reply: FastifyReply) =>
      reply.status(503).type('text/plain; charset=utf-8').send('The web console is not built: run `npm run build:ui` (or start with `npm start`, which builds it), then restart Inlet.\n');
    app.get('/ui', hidden, notBuilt);
    app.get('/ui/*', hidden, notBuilt);
    return;
  }
  app.register(fastifyStatic, {
    root: fileURLToPath(dist),
    prefix: '/ui/',
    decorateReply: false,
    schemaHide: true,
    // Routes for the build's own files, listed once: no other path under /ui/ reaches the disk.
    wildcard: false,
    cacheControl: false,
    // Hashed asset names change with their content; the page itself must be asked for again.
    setHeaders: (response, filePath) => {
      response.setHeader('cache-control', filePath.endsWith('.html') ? 'no-cache' : 'public, max-age=31536000, immutable');
      response.setHeader('content-security-policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
    },
  });
}
