/**
 * Who may do what: the permissions, the built-in roles that hold them, and the permission each
 * route needs. A route without an entry here fails the server's start (api/server.ts), so no
 * route is ever reachable unchecked.
 */

const DATA_RESOURCES = ['project', 'table', 'transform', 'storage', 'job', 'credential'] as const;
const ACCOUNT_RESOURCES = ['user', 'serviceaccount'] as const;

export const PERMISSIONS = [
  'view_org',
  'add_org',
  ...DATA_RESOURCES.flatMap((r) => [`view_${r}`, `add_${r}`, `change_${r}`, `delete_${r}`]),
  'cancel_job',
  'query',
  ...ACCOUNT_RESOURCES.flatMap((r) => [`view_${r}`, `add_${r}`, `change_${r}`, `delete_${r}`]),
  'tokens_serviceaccount',
  'view_role',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Reading what the org holds (not its accounts or credentials), querying it, and the list of roles. */
const READ: readonly Permission[] = ['view_org', 'view_project', 'view_table', 'view_transform', 'view_storage', 'view_job', 'query', 'view_role'];

export const ROLES: Record<string, { readonly description: string; readonly permissions: readonly Permission[] }> = {
  super_admin: { description: 'everything, in every org: creates orgs, and users in any org', permissions: PERMISSIONS },
  admin: { description: 'everything in their org', permissions: PERMISSIONS.filter((p) => p !== 'add_org') },
  operator: {
    description: 'runs and cancels jobs, manages transforms, reads and queries; no users',
    permissions: [...READ, 'add_job', 'cancel_job', 'add_transform', 'change_transform', 'delete_transform'],
  },
  read_only: { description: 'lists, shows and queries', permissions: READ },
};

export const isRole = (name: unknown): name is string => typeof name === 'string' && Object.hasOwn(ROLES, name);

export function permissionsOf(roles: readonly string[]): ReadonlySet<Permission> {
  return new Set(roles.flatMap((role) => (isRole(role) ? ROLES[role]!.permissions : [])));
}

/** Needs no token (PUBLIC) or any valid token (AUTHENTICATED) rather than a permission. */
export const PUBLIC = 'public';
export const AUTHENTICATED = 'authenticated';
export type RouteAccess = Permission | typeof PUBLIC | typeof AUTHENTICATED;

const ORG = '/config/v1/orgs/:org';
const PROJECT = `${ORG}/projects/:project`;
const TABLE = `${PROJECT}/tables/:table`;
const JOBS = `${ORG}/jobs/batch`;

/** Create, read, update, delete routes of one resource under `base`, its item at `${base}/:param`. */
function crud(base: string, param: string, resource: (typeof DATA_RESOURCES)[number]): Record<string, RouteAccess> {
  const item = `${base}/:${param}`;
  return {
    [`GET ${base}`]: `view_${resource}`,
    [`POST ${base}`]: `add_${resource}`,
    [`GET ${item}`]: `view_${resource}`,
    [`PUT ${item}`]: `change_${resource}`,
    [`PATCH ${item}`]: `change_${resource}`,
    [`DELETE ${item}`]: `delete_${resource}`,
  };
}

/** "METHOD /route/:param" (as registered, without a trailing slash) → what it needs. */
export const ROUTE_ACCESS: Readonly<Record<string, RouteAccess>> = {
  'GET /version': PUBLIC,
  'POST /config/v1/login': PUBLIC,
  'POST /config/v1/invites/:token/accept': PUBLIC,
  'POST /config/v1/logout': AUTHENTICATED,
  'POST /config/v1/users/change_password': AUTHENTICATED,
  'GET /config/v1/orgs': 'view_org',
  'POST /config/v1/orgs': 'add_org',
  [`GET ${ORG}`]: 'view_org',
  ...crud(`${ORG}/projects`, 'project', 'project'),
  ...crud(`${PROJECT}/tables`, 'table', 'table'),
  ...crud(`${TABLE}/transforms`, 'transform', 'transform'),
  ...crud(`${ORG}/storages`, 'storage', 'storage'),
  ...crud(`${ORG}/credentials`, 'credential', 'credential'),
  [`POST ${JOBS}`]: 'add_job',
  [`GET ${JOBS}`]: 'view_job',
  [`GET ${JOBS}/:job`]: 'view_job',
  [`DELETE ${JOBS}/:job`]: 'delete_job',
  [`GET ${JOBS}/:job/status`]: 'view_job',
  [`POST ${JOBS}/:job/status`]: 'view_job',
  [`GET ${JOBS}/:job/files`]: 'view_job',
  [`POST ${JOBS}/:job/cancel`]: 'cancel_job',
  [`POST ${JOBS}/:job/retry`]: 'add_job',
  // Undo takes a load's rows out of the table: as destructive as deleting the job's data.
  [`POST ${JOBS}/:job/undo`]: 'delete_job',
  // Probes and scrapes carry no user token (/metrics has INLET_METRICS_TOKEN of its own).
  'GET /health/live': PUBLIC,
  'GET /health/ready': PUBLIC,
  'GET /metrics': PUBLIC,
  'GET /ui/*': PUBLIC,
  'GET /docs/*': PUBLIC,
  'GET /openapi.json': PUBLIC,
  // ClickHouse clients ping before they authenticate; the answer is a constant.
  'GET /query/ping': PUBLIC,
  'GET /query': 'query',
  'POST /query': 'query',
  'POST /validator': 'view_transform',
  'GET /config/v1/roles': 'view_role',
  'GET /config/v1/roles/permissions': 'view_role',
  'GET /config/v1/users': 'view_user',
  'POST /config/v1/users': 'add_user',
  'GET /config/v1/users/:user': 'view_user',
  'DELETE /config/v1/users/:user': 'delete_user',
  'POST /config/v1/users/:user/add_roles': 'change_user',
  'POST /config/v1/users/:user/remove_roles': 'change_user',
  'GET /config/v1/invites': 'view_user',
  'POST /config/v1/invites': 'add_user',
  'POST /config/v1/invite': 'add_user',
  'GET /config/v1/service_accounts': 'view_serviceaccount',
  'POST /config/v1/service_accounts': 'add_serviceaccount',
  'GET /config/v1/service_accounts/:account': 'view_serviceaccount',
  'DELETE /config/v1/service_accounts/:account': 'delete_serviceaccount',
  'POST /config/v1/service_accounts/:account/tokens': 'tokens_serviceaccount',
  'DELETE /config/v1/service_accounts/:account/tokens': 'tokens_serviceaccount',
};

/**
 * Static pages and their assets (the console, the API reference), whose file names change with
 * each build: one key each. They hold no data; what they show comes from the API with the
 * user's own token.
 */
const STATIC_PREFIXES = ['/ui', '/docs'];

/** The key of a route in ROUTE_ACCESS: HEAD is answered by the GET route, trailing slashes are ignored. */
export function routeKey(method: string, url: string): string {
  const path = url.length > 1 ? url.replace(/\/+$/, '') : url;
  const prefix = STATIC_PREFIXES.find((p) => path === p || path.startsWith(`${p}/`));
  return `${method === 'HEAD' ? 'GET' : method} ${prefix === undefined ? path : `${prefix}/*`}`;
}
