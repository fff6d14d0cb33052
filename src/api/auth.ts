import type { FastifyInstance, FastifyRequest } from 'fastify';
import { deleteSession, findSession, findUserByEmail } from '../catalog/accounts.js';
import type { Catalog } from '../catalog/db.js';
import type { User } from '../catalog/schema.js';
import { verifyLogin } from '../auth/password.js';
import { AuthenticationError } from '../errors.js';
import { TtlCache } from '../ttl-cache.js';

declare module 'fastify' {
  interface FastifyRequest {
    user?: User;
  }
  interface FastifyInstance {
    /** The server's verified tokens (installSessionCache). */
    sessions: TtlCache<string, { user: User; expiresAtMs: number }>;
  }
}

/** How long a verified token is trusted without asking the catalog again (never past its expiry). */
const SESSION_CACHE_MS = 5000;

/** Gives a server its cache of verified tokens: one per server, so a logout can drop its token from it. */
export function installSessionCache(app: FastifyInstance): void {
  app.decorate('sessions', new TtlCache<string, { user: User; expiresAtMs: number }>(10_000));
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

/** Bearer token (every route), or HTTP basic auth where `allowBasic` (the query API, as Hydrolix allows). */
export async function authenticate(catalog: Catalog, request: FastifyRequest, allowBasic: boolean): Promise<User> {
  const header = request.headers.authorization ?? (allowBasic ? clickhouseCredentials(request) : undefined);
  if (!header) throw new AuthenticationError('authentication required: send "Authorization: Bearer <token>" (get a token from POST /config/v1/login)');
  const [scheme, value] = header.split(/\s+/, 2);
  if (scheme?.toLowerCase() === 'bearer' && value) {
    const sessions = request.server.sessions;
    const cached = sessions.get(value);
    if (cached && cached.expiresAtMs > Date.now()) return cached.user;
    const session = await findSession(catalog.db, value);
    if (!session) throw new AuthenticationError('the bearer token is not valid: log in again with POST /config/v1/login');
    if ('expired' in session) throw new AuthenticationError('the bearer token has expired: log in again with POST /config/v1/login');
    sessions.set(value, session, Math.min(SESSION_CACHE_MS, session.expiresAtMs - Date.now()));
    return session.user;
  }
  if (allowBasic && scheme?.toLowerCase() === 'basic' && value) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = colon > 0 ? await findUserByEmail(catalog.db, decoded.slice(0, colon)) : undefined;
    if ((await verifyLogin(decoded.slice(colon + 1), user?.password_hash)) && user) return user;
    throw new AuthenticationError('basic auth failed: wrong username or password');
  }
  throw new AuthenticationError(`authorization scheme "${scheme}" is not accepted here: use "Authorization: Bearer <token>"`);
}
