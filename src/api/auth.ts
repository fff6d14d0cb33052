import type { FastifyInstance, FastifyRequest } from 'fastify';
import { deleteSession, findSession, findUserByEmail, getAccount, principalOf, type Principal } from '../catalog/accounts.js';
import type { Catalog } from '../catalog/db.js';
import type { User } from '../catalog/schema.js';
import type { LoginLimiter } from '../auth/login-limiter.js';
import { verifyLogin } from '../auth/password.js';
import { AUTHENTICATED, PUBLIC, ROUTE_ACCESS, routeKey, type RouteAccess } from '../auth/permissions.js';
import type { SecretBox } from '../auth/secret-box.js';
import { looksLikeJwt, type ServiceTokens } from '../auth/service-tokens.js';
import { SessionCache } from '../auth/session-cache.js';
import { AuthenticationError, PermissionError } from '../errors.js';
import { notText } from './text-input.js';

/** What access needs beyond the catalog, created in service.ts and given to the server. */
export interface AccessControl {
  readonly serviceTokens: ServiceTokens;
  readonly loginLimiter: LoginLimiter;
  /** Seals source credentials (INLET_SECRET_KEY); undefined when the operator gave no key. */
  readonly secrets: SecretBox | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    user?: Principal;
  }
  interface FastifyInstance {
    /** The server's verified tokens (installAccess). */
    sessions: SessionCache;
    access: AccessControl;
  }
}

/** Gives a server its cache of verified tokens (one per server, so a logout can drop its token from it) and the access objects. */
export function installAccess(app: FastifyInstance, access: AccessControl): void {
  app.decorate('sessions', new SessionCache());
  app.decorate('access', access);
}

/** Revokes a bearer token: gone from the catalog, and at once from this server's cache. */
export async function revokeToken(catalog: Catalog, request: FastifyRequest): Promise<void> {
  const token = bearerToken(request);
  if (token === undefined) return;
  await deleteSession(catalog.db, token);
  request.server.sessions.delete(token);
}

function bearerToken(request: FastifyRequest): string | undefined {
  const [scheme, value] = (request.headers.authorization ?? '').split(/\s+/, 2);
  return scheme?.toLowerCase() === 'bearer' && value ? value : undefined;
}

/** ClickHouse's own credential headers (X-ClickHouse-User / X-ClickHouse-Key), as the basic auth they stand for. */
function clickhouseCredentials(request: FastifyRequest): string | undefined {
  const user = request.headers['x-clickhouse-user'];
  if (typeof user !== 'string' || user === '') return undefined;
  const key = request.headers['x-clickhouse-key'];
  return `Basic ${Buffer.from(`${user}:${typeof key === 'string' ? key : ''}`).toString('base64')}`;
}

/** The hash a login checks a password against: none for service accounts and users who have not set one (the same work is still spent). */
export const loginHash = (user: User | undefined): string | undefined => (user && user.kind === 'user' && user.password_hash !== '' ? user.password_hash : undefined);

/**
 * Checks a password login against the failed-login limits: refused (429) while the account or the
 * address is over them, and counted when wrong.
 */
export async function passwordLogin(catalog: Catalog, request: FastifyRequest, email: string, password: string): Promise<User | undefined> {
  const attempt = request.server.access.loginLimiter.begin(email, request.ip);
  try {
    // A name that is not text (a NUL, from basic auth) names no user: the catalog is not asked.
    const user = notText(email) === undefined ? await findUserByEmail(catalog.db, email) : undefined;
    // The same answer, after the same work, for an unknown user and a wrong password: no probing for accounts.
    const hash = loginHash(user);
    if ((await verifyLogin(password, hash)) && hash !== undefined) return user;
    attempt.failed();
    return undefined;
  } finally {
    attempt.release();
  }
}

async function identify(catalog: Catalog, request: FastifyRequest, allowBasic: boolean): Promise<Principal> {
  const header = request.headers.authorization ?? (allowBasic ? clickhouseCredentials(request) : undefined);
  if (!header) throw new AuthenticationError('authentication required: send "Authorization: Bearer <token>" (get a token from POST /config/v1/login)');
  const [scheme, value] = header.split(/\s+/, 2);
  if (scheme?.toLowerCase() === 'bearer' && value) {
    const sessions = request.server.sessions;
    const cached = sessions.get(value);
    if (cached) return cached;
    if (looksLikeJwt(value)) {
      const claims = await request.server.access.serviceTokens.verify(value);
      const account = await getAccount(catalog.db, claims.accountId);
      if (!account || account.kind !== 'service_account' || account.token_generation !== claims.generation) {
        throw new AuthenticationError('the service-account token was revoked (or its account deleted): create a new one');
      }
      const principal = await principalOf(catalog.db, account);
      sessions.set(value, principal, claims.expiresAtMs);
      return principal;
    }
    const session = await findSession(catalog.db, value);
    if (!session) throw new AuthenticationError('the bearer token is not valid: log in again with POST /config/v1/login');
    if ('expired' in session) throw new AuthenticationError('the bearer token has expired: log in again with POST /config/v1/login');
    sessions.set(value, session.user, session.expiresAtMs);
    return session.user;
  }
  if (allowBasic && scheme?.toLowerCase() === 'basic' && value) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = colon > 0 ? await passwordLogin(catalog, request, decoded.slice(0, colon), decoded.slice(colon + 1)) : undefined;
    if (user) return principalOf(catalog.db, user);
    throw new AuthenticationError('basic auth failed: wrong username or password');
  }
  throw new AuthenticationError(`authorization scheme "${scheme}" is not accepted here: use "Authorization: Bearer <token>"`);
}

/** What the request's route needs (ROUTE_ACCESS); the server refuses to start with a route missing there. */
export function routeAccess(method: string, url: string): RouteAccess | undefined {
  return ROUTE_ACCESS[routeKey(method, url)];
}

/** Throws PermissionError unless the principal's roles, as they are now, grant the permission. */
export function requirePermission(principal: Principal, access: RouteAccess): void {
  if (access === PUBLIC || access === AUTHENTICATED || principal.permissions.has(access)) return;
  const roles = principal.roles.length > 0 ? `roles ${principal.roles.join(', ')}` : 'no roles';
  const who = principal.kind === 'service_account' ? `service account "${principal.name}"` : principal.email;
  throw new PermissionError(`permission "${access}" is required for this request; ${who} has ${roles}: ask an admin to add a role that grants it (GET /config/v1/roles/ lists them)`);
}

/**
 * Bearer token (every route; a login token or a service-account JWT), or HTTP basic auth where
 * `allowBasic` (the query API, as Hydrolix allows); then the route's permission is checked.
 */
export async function authenticate(catalog: Catalog, request: FastifyRequest, allowBasic: boolean): Promise<Principal> {
  const principal = await identify(catalog, request, allowBasic);
  const access = routeAccess(request.method, request.routeOptions.url ?? '');
  if (access === undefined) throw new Error(`no access rule for ${request.method} ${request.routeOptions.url}`);
  requirePermission(principal, access);
  return principal;
}
