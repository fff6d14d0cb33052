import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROLES, routeKey, ROUTE_ACCESS } from '../src/auth/permissions.js';
import { CSV_TRANSFORM, referenceJob } from './helpers/data.js';
import { ApiClient, createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';

/**
 * Both matrices are generated from the routes the server registered: a route added without a
 * place in MATRIX fails the first test, so a new route cannot skip the isolation check.
 */

let inlet: TestInlet;
let files: string;
/** Org A's objects, made by A's admin. */
const a = { org: '', project: '', table: '', transform: '', job: '', storage: '', credential: '', user: '', account: '' };
let adminB: ApiClient;
let orgB = '';

type Ids = typeof a;
/**
 * How org B's admin reaches org A's objects through a route, and what it must get:
 * - `notFound`: each of the paths gets 404 (A's org in the path, and B's org with A's object ids);
 * - `query`: an answer naming A's table as one that doesn't exist;
 * - `listOmitsA`: 200, and no A object in the answer;
 * - `forbidden`: 403 (a super admin's route);
 * - `noTarget`: the route acts only on the caller itself (or needs no token), so there is no A object to reach.
 */
type Place =
  | { kind: 'notFound'; paths: (ids: Ids, b: string) => string[]; body?: unknown; headers?: Record<string, string> }
  | { kind: 'query'; path: string }
  | { kind: 'listOmitsA'; path: string }
  | { kind: 'forbidden'; path: string; body: unknown }
  | { kind: 'noTarget'; why: string };

const project = (o: string, ids: Ids) => `/config/v1/orgs/${o}/projects/${ids.project}`;
const table = (o: string, ids: Ids) => `${project(o, ids)}/tables/${ids.table}`;
const transform = (o: string, ids: Ids) => `${table(o, ids)}/transforms/${ids.transform}`;
const job = (o: string, ids: Ids) => `/config/v1/orgs/${o}/jobs/batch/${ids.job}`;
const storage = (o: string, ids: Ids) => `/config/v1/orgs/${o}/storages/${ids.storage}`;
const credential = (o: string, ids: Ids) => `/config/v1/orgs/${o}/credentials/${ids.credential}`;
/** A's org, then B's org with A's object ids. */
const both = (at: (o: string, ids: Ids) => string) => (ids: Ids, b: string) => [at(ids.org, ids), at(b, ids)];

const named = { name: 'from-b', description: 'x', settings: {} };
const storageBody = { name: 'from-b', settings: { bucket_name: 'bucket-b' } };

const MATRIX: Record<string, Place> = {
  'GET /version': { kind: 'noTarget', why: 'public' },
  'POST /config/v1/login': { kind: 'noTarget', why: 'public' },
  'POST /config/v1/logout': { kind: 'noTarget', why: "the caller's own token" },
  'POST /config/v1/users/change_password': { kind: 'noTarget', why: "the caller's own password" },
  'POST /config/v1/invites/:token/accept': { kind: 'noTarget', why: 'public, reached only with a secret token' },
  'GET /config/v1/roles': { kind: 'noTarget', why: 'the built-in roles, the same for every org' },
  'GET /config/v1/roles/permissions': { kind: 'noTarget', why: 'the permissions, the same for every org' },
  'GET /config/v1/orgs': { kind: 'listOmitsA', path: '/config/v1/orgs/' },
  'POST /config/v1/orgs': { kind: 'forbidden', path: '/config/v1/orgs/', body: { name: 'from-b' } },
  'GET /config/v1/orgs/:org': { kind: 'notFound', paths: (ids) => [`/config/v1/orgs/${ids.org}`] },
  'GET /config/v1/orgs/:org/projects': { kind: 'notFound', paths: (ids) => [`/config/v1/orgs/${ids.org}/projects/`] },
  'POST /config/v1/orgs/:org/projects': { kind: 'notFound', paths: (ids) => [`/config/v1/orgs/${ids.org}/projects/`], body: named },
  'GET /config/v1/orgs/:org/projects/:project': { kind: 'notFound', paths: both(project) },
  'PUT /config/v1/orgs/:org/projects/:project': { kind: 'notFound', paths: both(project), body: named },
  'PATCH /config/v1/orgs/:org/projects/:project': { kind: 'notFound', paths: both(project), body: named },
  'DELETE /config/v1/orgs/:org/projects/:project': { kind: 'notFound', paths: both(project) },
  'GET /config/v1/orgs/:org/projects/:project/tables': { kind: 'notFound', paths: both((o, ids) => `${project(o, ids)}/tables/`) },
  'POST /config/v1/orgs/:org/projects/:project/tables': { kind: 'notFound', paths: both((o, ids) => `${project(o, ids)}/tables/`), body: named },
  'GET /config/v1/orgs/:org/projects/:project/tables/:table': { kind: 'notFound', paths: both(table) },
  'PUT /config/v1/orgs/:org/projects/:project/tables/:table': { kind: 'notFound', paths: both(table), body: named },
  'PATCH /config/v1/orgs/:org/projects/:project/tables/:table': { kind: 'notFound', paths: both(table), body: named },
  'DELETE /config/v1/orgs/:org/projects/:project/tables/:table': { kind: 'notFound', paths: both(table) },
  'GET /config/v1/orgs/:org/projects/:project/tables/:table/transforms': { kind: 'notFound', paths: both((o, ids) => `${table(o, ids)}/transforms/`) },
  'POST /config/v1/orgs/:org/projects/:project/tables/:table/transforms': { kind: 'notFound', paths: both((o, ids) => `${table(o, ids)}/transforms/`), body: CSV_TRANSFORM },
  'GET /config/v1/orgs/:org/projects/:project/tables/:table/transforms/:transform': { kind: 'notFound', paths: both(transform) },
  'PUT /config/v1/orgs/:org/projects/:project/tables/:table/transforms/:transform': { kind: 'notFound', paths: both(transform), body: CSV_TRANSFORM },
  'PATCH /config/v1/orgs/:org/projects/:project/tables/:table/transforms/:transform': { kind: 'notFound', paths: both(transform), body: { description: 'x' } },
  'DELETE /config/v1/orgs/:org/projects/:project/tables/:table/transforms/:transform': { kind: 'notFound', paths: both(transform) },
  'GET /config/v1/orgs/:org/storages': { kind: 'notFound', paths: (ids) => [`/config/v1/orgs/${ids.org}/storages/`] },
  'POST /config/v1/orgs/:org/storages': { kind: 'notFound', paths: (ids) => [`/config/v1/orgs/${ids.org}/storages/`], body: storageBody },
  'GET /config/v1/orgs/:org/storages/:storage': { kind: 'notFound', paths: both(storage) },
  'PUT /config/v1/orgs/:org/storages/:storage': { kind: 'notFound', paths: both(storage), body: storageBody },
  'PATCH /config/v1/orgs/:org/storages/:storage': { kind: 'notFound', paths: both(storage), body: { description: 'x' } },
  'DELETE /config/v1/orgs/:org/storages/:storage': { kind: 'notFound', paths: both(storage) },
  'GET /config/v1/orgs/:org/credentials': { kind: 'notFound', paths: (ids) => [`/config/v1/orgs/${ids.org}/credentials/`] },
  'POST /config/v1/orgs/:org/credentials': { kind: 'notFound', paths: (ids) => [`/config/v1/orgs/${ids.org}/credentials/`], body: { name: 'from-b', settings: { access_key_id: 'k', secret_access_key: 's' } } },
  'GET /config/v1/orgs/:org/credentials/:credential': { kind: 'notFound', paths: both(credential) },
  'PUT /config/v1/orgs/:org/credentials/:credential': { kind: 'notFound', paths: both(credential), body: { name: 'from-b' } },
  'PATCH /config/v1/orgs/:org/credentials/:credential': { kind: 'notFound', paths: both(credential), body: { name: 'from-b' } },
  'DELETE /config/v1/orgs/:org/credentials/:credential': { kind: 'notFound', paths: both(credential) },
  'GET /config/v1/orgs/:org/jobs/batch': { kind: 'notFound', paths: (ids) => [`/config/v1/orgs/${ids.org}/jobs/batch/`] },
  'POST /config/v1/orgs/:org/jobs/batch': { kind: 'notFound', paths: (ids) => [`/config/v1/orgs/${ids.org}/jobs/batch/`], body: referenceJob('from-b', 'file:///nowhere/') },
  'GET /config/v1/orgs/:org/jobs/batch/:job': { kind: 'notFound', paths: both(job) },
  'DELETE /config/v1/orgs/:org/jobs/batch/:job': { kind: 'notFound', paths: both(job) },
  'GET /config/v1/orgs/:org/jobs/batch/:job/status': { kind: 'notFound', paths: both((o, ids) => `${job(o, ids)}/status`) },
  'POST /config/v1/orgs/:org/jobs/batch/:job/status': { kind: 'notFound', paths: both((o, ids) => `${job(o, ids)}/status`) },
  'GET /config/v1/orgs/:org/jobs/batch/:job/files': { kind: 'notFound', paths: both((o, ids) => `${job(o, ids)}/files`) },
  'POST /config/v1/orgs/:org/jobs/batch/:job/cancel': { kind: 'notFound', paths: both((o, ids) => `${job(o, ids)}/cancel`) },
  'POST /config/v1/orgs/:org/jobs/batch/:job/retry': { kind: 'notFound', paths: both((o, ids) => `${job(o, ids)}/retry`) },
  'POST /config/v1/orgs/:org/jobs/batch/:job/undo': { kind: 'notFound', paths: both((o, ids) => `${job(o, ids)}/undo`) },
  'GET /health/live': { kind: 'noTarget', why: 'public: the process answers' },
  'GET /health/ready': { kind: 'noTarget', why: 'public: the catalog answers' },
  'GET /ui/*': { kind: 'noTarget', why: 'the console: static files, no data' },
  'GET /docs/*': { kind: 'noTarget', why: 'the API reference page: static files, no data' },
  'GET /openapi.json': { kind: 'noTarget', why: 'the API description, the same for everyone' },
  'GET /metrics': { kind: 'noTarget', why: 'figures summed over every org, for the operator (INLET_METRICS_TOKEN guards it)' },
  'GET /query/ping': { kind: 'noTarget', why: 'public: answers Ok.' },
  'GET /query': { kind: 'query', path: '/query?query=SELECT%20count()%20FROM%20website.events' },
  'POST /query': { kind: 'query', path: '/query' },
  'POST /validator': { kind: 'notFound', paths: () => ['/validator'], body: { data: ['2024-01-01 00:00:00,a,200'] }, headers: { 'x-hdx-table': 'website.events' } },
  'GET /config/v1/users': { kind: 'listOmitsA', path: '/config/v1/users/' },
  'POST /config/v1/users': { kind: 'notFound', paths: () => ['/config/v1/users/'], body: { email: 'from-b@example.com', roles: ['admin'], password: 'x' } },
  'GET /config/v1/users/:user': { kind: 'notFound', paths: (ids) => [`/config/v1/users/${ids.user}`, `/config/v1/users/${ids.account}`] },
  'DELETE /config/v1/users/:user': { kind: 'notFound', paths: (ids) => [`/config/v1/users/${ids.user}`, `/config/v1/users/${ids.account}`] },
  'POST /config/v1/users/:user/add_roles': { kind: 'notFound', paths: (ids) => [`/config/v1/users/${ids.user}/add_roles`, `/config/v1/users/${ids.account}/add_roles`], body: { roles: ['admin'] } },
  'POST /config/v1/users/:user/remove_roles': { kind: 'notFound', paths: (ids) => [`/config/v1/users/${ids.user}/remove_roles`], body: { roles: ['admin'] } },
  'GET /config/v1/invites': { kind: 'listOmitsA', path: '/config/v1/invites/' },
  'POST /config/v1/invites': { kind: 'notFound', paths: () => ['/config/v1/invites/'], body: { email: 'from-b2@example.com', roles: ['admin'] } },
  'POST /config/v1/invite': { kind: 'notFound', paths: () => ['/config/v1/invite/'], body: { email: 'from-b3@example.com', roles: ['admin'] } },
  'GET /config/v1/service_accounts': { kind: 'listOmitsA', path: '/config/v1/service_accounts/' },
  'POST /config/v1/service_accounts': { kind: 'notFound', paths: () => ['/config/v1/service_accounts/'], body: { name: 'from-b' } },
  'GET /config/v1/service_accounts/:account': { kind: 'notFound', paths: (ids) => [`/config/v1/service_accounts/${ids.account}`, `/config/v1/service_accounts/${ids.user}`] },
  'DELETE /config/v1/service_accounts/:account': { kind: 'notFound', paths: (ids) => [`/config/v1/service_accounts/${ids.account}`] },
  'POST /config/v1/service_accounts/:account/tokens': { kind: 'notFound', paths: (ids) => [`/config/v1/service_accounts/${ids.account}/tokens`] },
  'DELETE /config/v1/service_accounts/:account/tokens': { kind: 'notFound', paths: (ids) => [`/config/v1/service_accounts/${ids.account}/tokens`] },
};

/** Creating users and accounts "in org A" from B is a 404 only when the body names org A. */
const NAMES_ORG_A = new Set(['POST /config/v1/users', 'POST /config/v1/invites', 'POST /config/v1/invite', 'POST /config/v1/service_accounts']);

const routes = () => inlet.service.app!.registeredRoutes.filter((r) => r.method !== 'HEAD');

/** Everything in org A, as its admin sees it: must be the same after B has tried every route. */
async function snapshotA(): Promise<string> {
  const api = inlet.api;
  const get = async (url: string) => (await api.request('GET', url)).text;
  const parts = await Promise.all([
    get(`/config/v1/orgs/${a.org}/projects/`),
    get(`/config/v1/orgs/${a.org}/projects/${a.project}/tables/`),
    get(`/config/v1/orgs/${a.org}/projects/${a.project}/tables/${a.table}/transforms/`),
    get(`/config/v1/orgs/${a.org}/storages/`),
    get(`/config/v1/orgs/${a.org}/credentials/`),
    get(`/config/v1/orgs/${a.org}/jobs/batch/`),
    get(`/config/v1/orgs/${a.org}/jobs/batch/${a.job}/files`),
    get(`/config/v1/users/${a.user}/`),
    get(`/config/v1/service_accounts/${a.account}/`),
    (await api.query('SELECT count() FROM website.events')).text,
  ]);
  return parts.join('\n');
}

before(async () => {
  files = mkdtempSync(path.join(tmpdir(), 'inlet-matrix-files-'));
  mkdirSync(path.join(files, 'logs'));
  writeFileSync(path.join(files, 'logs', 'a.csv'), 'timestamp,host,status\n2024-01-01 00:00:00,a.example.com,200\n');
  inlet = await startInlet({ workers: '1', fileRoots: files, secretKey: randomBytes(32).toString('base64') });
  const api = inlet.api;
  a.org = api.orgId;
  const ids = await createWebsiteEvents(api, [CSV_TRANSFORM]);
  a.project = ids.projectId;
  a.table = ids.tableId;
  a.transform = (await api.request('GET', `/config/v1/orgs/${a.org}/projects/${a.project}/tables/${a.table}/transforms/`)).body[0].uuid;
  a.credential = (await api.request('POST', `/config/v1/orgs/${a.org}/credentials/`, { name: 'a-keys', settings: { access_key_id: 'ka', secret_access_key: 'sa' } })).body.uuid;
  a.storage = (await api.request('POST', `/config/v1/orgs/${a.org}/storages/`, { name: 'a-bucket', settings: { bucket_name: 'bucket-a' } })).body.uuid;
  const created = await api.request('POST', `/config/v1/orgs/${a.org}/jobs/batch/`, referenceJob('a job', `file://${files}/logs/`));
  a.job = created.body.uuid;
  assert.equal((await api.waitForJob(a.job)).status, 'done');
  a.user = (await api.request('POST', '/config/v1/users/', { email: 'a-reader@example.com', roles: ['read_only'], password: 'pw' })).body.uuid;
  a.account = (await api.request('POST', '/config/v1/service_accounts/', { name: 'a-robot', roles: ['read_only'] })).body.uuid;
  await api.request('POST', '/config/v1/invites/', { email: 'a-invited@example.com', roles: ['read_only'] });

  orgB = (await api.request('POST', '/config/v1/orgs/', { name: 'org-b' })).body.uuid;
  assert.equal((await api.request('POST', '/config/v1/users/', { email: 'b-admin@example.com', org: orgB, roles: ['admin'], password: 'pw-b' })).status, 201);
  adminB = new ApiClient(api.url);
  await adminB.login({ username: 'b-admin@example.com', password: 'pw-b' });
});
after(async () => {
  await inlet?.stop();
  rmSync(files, { recursive: true, force: true });
});

describe('isolation matrix', () => {
  test('every registered route has an access rule and a place in the matrix', () => {
    const missing = routes()
      .map((r) => routeKey(r.method, r.url))
      .filter((key) => !(key in MATRIX) || !(key in ROUTE_ACCESS));
    assert.deepEqual(missing, [], 'routes without a place in MATRIX (test/access-matrix.test.ts) or ROUTE_ACCESS');
    assert.ok(routes().length > 50, `only ${routes().length} routes registered`);
  });

  test("org B's admin reaches nothing of org A's through any route, and nothing in A changes", async () => {
    const before = await snapshotA();
    const failures: string[] = [];
    for (const route of routes()) {
      const key = routeKey(route.method, route.url);
      const place = MATRIX[key]!;
      const check = (ok: boolean, what: string) => ok || failures.push(`${key}: ${what}`);
      if (place.kind === 'notFound') {
        const body = NAMES_ORG_A.has(key) ? { ...(place.body as object), org: a.org } : place.body;
        for (const url of place.paths(a, orgB)) {
          const response = await adminB.request(route.method, url, body, place.headers);
          check(response.status === 404, `${url} answered ${response.status} ${response.text.slice(0, 200)}`);
        }
      } else if (place.kind === 'query') {
        const response = route.method === 'GET' ? await adminB.request('GET', place.path) : await adminB.query('SELECT count() FROM website.events');
        check(response.status === 400 && /website\.events doesn't exist/.test(response.text), `answered ${response.status} ${response.text.slice(0, 200)}`);
      } else if (place.kind === 'listOmitsA') {
        const response = await adminB.request('GET', place.path);
        const leaked = Object.values(a).filter((id) => response.text.includes(id));
        check(response.status === 200 && leaked.length === 0 && !/a-(reader|robot|invited)/.test(response.text), `answered ${response.status}, showing ${leaked.join(', ')} ${response.text.slice(0, 200)}`);
      } else if (place.kind === 'forbidden') {
        const response = await adminB.request(route.method, place.path, place.body);
        check(response.status === 403, `answered ${response.status}`);
      }
    }
    // A's credential named in a job of B's own org is not B's to use.
    const borrowed = referenceJob('borrowed keys', 's3://bucket-a/data/');
    (borrowed.settings.source.settings as Record<string, unknown>).credential_id = a.credential;
    const job = await adminB.request('POST', `/config/v1/orgs/${orgB}/jobs/batch/`, borrowed);
    assert.equal(job.status, 400, job.text);
    assert.match(job.body.detail, /is not a credential of this org/);
    assert.deepEqual(failures, []);
    assert.equal(await snapshotA(), before);
  });
});

describe('role matrix', () => {
  /** A's objects at every route: the role matrix acts inside the caller's own org. */
  const ownPath = (route: { url: string }) =>
    route.url
      .replace(':org', a.org)
      .replace(':project', a.project)
      .replace(':table', a.table)
      .replace(':transform', a.transform)
      .replace(':job', a.job)
      .replace(':storage', a.storage)
      .replace(':credential', a.credential)
      .replace(':user', a.user)
      .replace(':account', a.account)
      .replace(':token', 'no-such-token');

  for (const role of ['read_only', 'operator'] as const) {
    test(`${role} gets 403 naming the permission on every route its role lacks, and nothing changes`, async () => {
      const email = `matrix-${role}@example.com`;
      assert.equal((await inlet.api.request('POST', '/config/v1/users/', { email, roles: [role], password: 'pw' })).status, 201);
      const client = new ApiClient(inlet.api.url);
      await client.login({ username: email, password: 'pw' });
      const before = await snapshotA();
      const granted = new Set<string>(ROLES[role]!.permissions);
      const failures: string[] = [];
      let denied = 0;
      for (const route of routes()) {
        const access = ROUTE_ACCESS[routeKey(route.method, route.url)]!;
        if (access === 'public' || access === 'authenticated' || granted.has(access)) continue;
        denied++;
        const response = await client.request(route.method, ownPath(route), route.method === 'GET' || route.method === 'DELETE' ? undefined : {});
        if (response.status !== 403 || !String(response.body.detail).includes(`permission "${access}" is required`)) failures.push(`${route.method} ${route.url}: ${response.status} ${response.text.slice(0, 200)}`);
      }
      assert.deepEqual(failures, []);
      assert.ok(denied > 10);
      assert.equal(await snapshotA(), before);
    });
  }

  test('read_only can use every route its role grants (lists, shows, status, query)', async () => {
    const client = new ApiClient(inlet.api.url);
    await client.login({ username: 'a-reader@example.com', password: 'pw' });
    const granted = new Set<string>(ROLES.read_only!.permissions);
    const failures: string[] = [];
    for (const route of routes()) {
      const access = ROUTE_ACCESS[routeKey(route.method, route.url)]!;
      if (!granted.has(access)) continue;
      const response =
        route.url === '/query'
          ? await client.query('SELECT count() FROM website.events')
          : route.url === '/validator'
            ? await client.request('POST', '/validator', { transform: 'mytransformname', data: ['2024-01-01 00:00:00,a,200'] }, { 'x-hdx-table': 'website.events' })
            : await client.request(route.method, ownPath(route));
      if (response.status >= 400) failures.push(`${route.method} ${route.url}: ${response.status} ${response.text.slice(0, 200)}`);
    }
    assert.deepEqual(failures, []);
  });
});
