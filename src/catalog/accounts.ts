import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { CatalogDb } from './db.js';
import type { Org, User } from './schema.js';
import { isoMicros } from '../time.js';

export async function findUserByEmail(db: CatalogDb, email: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
}

export async function countUsers(db: CatalogDb): Promise<number> {
  const row = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function createOrgWithUser(db: CatalogDb, orgName: string, email: string, passwordHash: string): Promise<{ org: Org; user: User }> {
  const now = isoMicros();
  const org: Org = { id: randomUUID(), name: orgName, type: 'homedir', created: now, modified: now };
  const user: User = { id: randomUUID(), org_id: org.id, email, password_hash: passwordHash, created: now, modified: now };
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('orgs').values(org).execute();
    await trx.insertInto('users').values(user).execute();
  });
  return { org, user };
}

/** Sets a user's password hash and revokes the user's tokens: whoever held the old password is logged out. */
export async function setUserPassword(db: CatalogDb, userId: string, passwordHash: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.updateTable('users').set({ password_hash: passwordHash, modified: isoMicros() }).where('id', '=', userId).execute();
    await trx.deleteFrom('sessions').where('user_id', '=', userId).execute();
  });
}

export async function listOrgsForUser(db: CatalogDb, user: User): Promise<Org[]> {
  return db.selectFrom('orgs').selectAll().where('id', '=', user.org_id).execute();
}

export async function getOrgForUser(db: CatalogDb, user: User, orgId: string): Promise<Org | undefined> {
  if (orgId !== user.org_id) return undefined;
  return db.selectFrom('orgs').selectAll().where('id', '=', orgId).executeTakeFirst();
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Opaque bearer tokens, stored hashed: a leaked catalog does not leak sessions, and tokens can be revoked. */
export async function createSession(db: CatalogDb, userId: string, ttlSeconds: number): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await db
    .insertInto('sessions')
    .values({ token_hash: hashToken(token), user_id: userId, expires_at_ms: Date.now() + ttlSeconds * 1000 })
    .execute();
  // Expired sessions are swept here rather than by a timer: logins are rare and this keeps the table small.
  await db.deleteFrom('sessions').where('expires_at_ms', '<', Date.now()).execute();
  return token;
}

/** Revokes one token (a logout); an unknown token is a no-op. */
export async function deleteSession(db: CatalogDb, token: string): Promise<void> {
  await db.deleteFrom('sessions').where('token_hash', '=', hashToken(token)).execute();
}

export type SessionLookup = { user: User; expiresAtMs: number } | { expired: true } | undefined;

export async function findSession(db: CatalogDb, token: string): Promise<SessionLookup> {
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .selectAll('users')
    .select('sessions.expires_at_ms')
    .where('sessions.token_hash', '=', hashToken(token))
    .executeTakeFirst();
  if (!row) return undefined;
  const { expires_at_ms, ...user } = row;
  if (expires_at_ms <= Date.now()) return { expired: true };
  return { user, expiresAtMs: expires_at_ms };
}
