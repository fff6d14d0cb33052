import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { fastifySwagger } from '@fastify/swagger';
import { fastifySwaggerUi, type FastifySwaggerUiOptions } from '@fastify/swagger-ui';

/** Where each family of routes is described in prose: the OpenAPI document links to it. */
const TAGS = [
  { name: 'auth', description: 'log in and out (docs/api.md#authentication)' },
  { name: 'resources', description: 'orgs, projects, tables, transforms, storages (docs/api.md)' },
  { name: 'jobs', description: 'batch jobs (docs/api.md#batch-jobs)' },
  { name: 'query', description: 'SQL over tables (docs/query.md)' },
  { name: 'operations', description: 'health, metrics, version, validator, this document' },
];

function tagOf(url: string): string {
  if (url === '/config/v1/login' || url === '/config/v1/logout') return 'auth';
  if (url.includes('/jobs/')) return 'jobs';
  if (url.startsWith('/config/v1/')) return 'resources';
  if (url === '/query') return 'query';
  return 'operations';
}

/**
 * `GET /openapi.json` and the reference page at `/docs`, generated from the routes' own JSON
 * schemas (the ones that validate requests). Call it before any route is added: the generator
 * learns routes from an onRoute hook, and a plugin registered the usual way would install that
 * hook only at `ready()`, after buildServer has added every route.
 */
export function openApiRoutes(app: FastifyInstance, version: string): void {
  fastifySwagger(
    app,
    {
      openapi: {
        info: { title: 'Inlet HTTP API', version, description: 'Hydrolix-compatible Config API for batch jobs, and the query API. Prose reference: docs/api.md.' },
        tags: TAGS,
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer', description: 'the access_token from POST /config/v1/login' },
            basic: { type: 'http', scheme: 'basic', description: 'the query API also takes a username and password' },
          },
        },
      },
      // Documentation only: what is sent to clients, never what validates a request.
      transform: ({ schema, url }) => {
        const documented: Record<string, unknown> = { ...(schema ?? {}), tags: [tagOf(url)] };
        if ((url.startsWith('/config/v1/') && url !== '/config/v1/login') || url === '/validator') documented.security = [{ bearer: [] }];
        if (url === '/query') documented.security = [{ bearer: [] }, { basic: [] }];
        return { schema: documented as typeof schema, url };
      },
    },
    (err?: Error) => {
      if (err) throw err;
    },
  );
  // Registered without fastify-plugin's dependency check, which cannot see the generator
  // installed synchronously above; the page only reads `app.swagger()` when asked.
  // (Its typings call it a callback plugin; it is an async function.)
  const docsPage = fastifySwaggerUi as unknown as FastifyPluginAsync<FastifySwaggerUiOptions>;
  app.register(async (instance: FastifyInstance, options: FastifySwaggerUiOptions) => docsPage(instance, options), {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', deepLinking: true },
  });
  app.get('/openapi.json', async (_request, reply) => reply.type('application/json; charset=utf-8').send(app.swagger()));
}
