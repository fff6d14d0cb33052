import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { CSV_TRANSFORM } from './helpers/data.js';

let inlet: TestInlet;

before(async () => {
  inlet = await startInlet();
});

after(async () => {
  await inlet.stop();
});

/** Every route the server registered, read from Fastify's own route tree (printRoutes). */
function registeredRoutes(tree: string): { url: string; methods: string[] }[] {
  const routes: { url: string; methods: string[] }[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/.exec(line.replace(/\u00a0/g, ' '));
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    stack.push(match[2]!);
    if (match[3]) routes.push({ url: stack.join(''), methods: match[3].split(', ') });
  }
  return routes;
}

const openApiPath = (url: string) => url.replace(/:([A-Za-z_]+)/g, '{$1}');

test('/openapi.json documents every registered API route and method', async () => {
  const response = await fetch(`${inlet.service.url}/openapi.json`);
  assert.equal(response.status, 200);
  const doc = (await response.json()) as any;
  assert.match(doc.openapi, /^3\./);
  const routes = registeredRoutes(inlet.service.app!.printRoutes({ commonPrefix: false }));
  assert.ok(routes.length > 20, `the route tree was read: ${JSON.stringify(routes)}`);
  let checked = 0;
  for (const { url, methods } of routes) {
    // The reference page's files and the console's static files are pages, not API.
    if (/^\/(docs|ui)([/*]|$)/.test(url)) continue;
    for (const method of methods.filter((m) => m !== 'HEAD')) {
      assert.ok(doc.paths[openApiPath(url)]?.[method.toLowerCase()], `${method} ${url} is missing from /openapi.json`);
      checked++;
    }
  }
  assert.ok(checked >= 40, `only ${checked} operations checked`);
  assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/ui') || p.startsWith('/docs')), 'pages are not API operations');
});

test('/openapi.json carries the schemas that validate requests, and path parameters', async () => {
  const doc = (await (await fetch(`${inlet.service.url}/openapi.json`)).json()) as any;
  const login = doc.paths['/config/v1/login'].post;
  assert.deepEqual(login.requestBody.content['application/json'].schema.required, ['username', 'password']);
  const files = doc.paths['/config/v1/orgs/{org}/jobs/batch/{job}/files'].get;
  const names = files.parameters.map((p: any) => `${p.in}:${p.name}`).sort();
  assert.deepEqual(names, ['path:job', 'path:org', 'query:limit', 'query:offset', 'query:problems']);
  assert.equal(files.parameters.find((p: any) => p.name === 'limit').schema.maximum, 10000);
  assert.deepEqual(doc.paths['/config/v1/orgs/{org}/jobs/batch'].post.security, [{ bearer: [] }]);
  assert.deepEqual(doc.paths['/validator'].post.security, [{ bearer: [] }]);
  assert.equal(doc.paths['/config/v1/login'].post.security, undefined);
  assert.equal(doc.components.securitySchemes.bearer.scheme, 'bearer');
});

test('documenting the routes leaves validation as it was: unknown keys still get the friendly message', async () => {
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
  const answer = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, {
    name: 'typo',
    settings: { max_file: 3, source: { table: 'website.events', settings: { url: 's3://bucket/x/' } } },
  });
  assert.equal(answer.status, 400);
  assert.match(answer.body.detail, /max_file.*did you mean "max_files"/);
});

test('/docs is a reference page whose scripts and styles come from this server', async () => {
  const page = await fetch(`${inlet.service.url}/docs`);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /swagger-ui/);
  for (const [, src] of html.matchAll(/(?:src|href)="([^"]+)"/g)) assert.doesNotMatch(src!, /^(https?:)?\/\//, `${src} would be downloaded from elsewhere`);
  const fromDocs = (await (await fetch(`${inlet.service.url}/docs/json`)).json()) as any;
  const fromRoute = (await (await fetch(`${inlet.service.url}/openapi.json`)).json()) as any;
  assert.deepEqual(Object.keys(fromDocs.paths).sort(), Object.keys(fromRoute.paths).sort());
  const bundle = await fetch(`${inlet.service.url}/docs/static/swagger-ui-bundle.js`);
  assert.equal(bundle.status, 200);
  await bundle.arrayBuffer();
});
