import type { FastifyRequest } from 'fastify';
import { findSession, findUserByEmail } from '../catalog/accounts.js';
import type { Catalog } from '../catalog/db.js';
import type { User } from '../catalog/schema.js';
import { verifyPassword } from '../auth/password.js';
import { AuthenticationError } from '../errors.js';
import { TtlCache } from '../ttl-cache.js';

declare module 'fastify' {
  interface FastifyRequest {
    user?: User;
  }
}

/** How long a verified token is trusted without asking the catalog again (never past its expiry). */
const SESSION_CACHE_MS = 5000;
const sessions = new TtlCache<string, { user: User; expiresAtMs: number }>(10_000);

/** Bearer token (every route), or HTTP basic auth where `allowBasic` (the query API, as Hydrolix allows). */
export async function authenticate(catalog: Catalog, request: FastifyRequest, allowBasic: boolean): Promise<User> {
  const header = request.headers.authorization;
  if (!header) throw new AuthenticationError('authentication required: send "Authorization: Bearer <token>" (get a token from POST /config/v1/login)');
  const [scheme, value] = header.split(/\s+/, 2);
  if (scheme?.toLowerCase() === 'bearer' && value) {
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
    if (user && (await verifyPassword(decoded.slice(colon + 1), user.password_hash))) return user;
    throw new AuthenticationError('basic auth failed: wrong username or password');
  }
  throw new AuthenticationError(`authorization scheme "${scheme}" is not accepted here: use "Authorization: Bearer <token>"`);
}
