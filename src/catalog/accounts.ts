import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { permissionsOf, type Permission } from '../auth/permissions.js';
import type { CatalogDb } from './db.js';
import type { Org, User } from './schema.js';
import { isoMicros } from '../time.js';

/** Who a request acts as: a user or a service account, with its roles as they are now. */
export type Principal = User & { readonly roles: readonly string[]; readonly permissions: ReadonlySet<Permission> };

export async function rolesOf(db: CatalogDb, userId: string): Promise<string[]> {
  const rows = await db.selectFrom('user_roles').select('role').where('user_id', '=', userId).orderBy('role').execute();
  return rows.map((r) => r.role);
}

export async function principalOf(db: CatalogDb, user: User): Promise<Principal> {
  const roles = await rolesOf(db, user.id);
  return { ...user, roles, permissions: permissionsOf(roles) };
}

export async function findUserByEmail(db: CatalogDb, email: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
}

export async function countUsers(db: CatalogDb): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function createOrgWithUser(db: CatalogDb, orgName: string, email: string, passwordHash: string): Promise<{ org: Org; user: User }> {
  const now = isoMicros();
  const org: Org = { id: randomUUID(), name: orgName, type: 'homedir', created: now, modified: now };
  const user: User = { id: randomUUID(), org_id: org.id, email, password_hash: passwordHash, kind: 'user', name: null, token_generation: 0, created: now, modified: now };
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('orgs').values(org).execute();
    await trx.insertInto('users').values(user).execute();
    await trx.insertInto('user_roles').values({ user_id: user.id, role: 'super_admin' }).execute();
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

export type SessionLookup = { user: Principal; expiresAtMs: number } | { expired: true } | undefined;

export async function findSession(db: CatalogDb, token: string): Promise<SessionLookup> {
  const row = await db.selectFrom('sessions').innerJoin('users', 'users.id', 'sessions.user_id').selectAll('users').select('sessions.expires_at_ms').where('sessions.token_hash', '=', hashToken(token)).executeTakeFirst();
  if (!row) return undefined;
  const { expires_at_ms, ...user } = row;
  if (expires_at_ms <= Date.now()) return { expired: true };
  return { user: await principalOf(db, user), expiresAtMs: expires_at_ms };
}

export async function findOrgByName(db: CatalogDb, name: string): Promise<Org | undefined> {
  return db.selectFrom('orgs').selectAll().where('name', '=', name).executeTakeFirst();
}

export async function createOrg(db: CatalogDb, name: string): Promise<Org> {
  const now = isoMicros();
  const org: Org = { id: randomUUID(), name, type: 'homedir', created: now, modified: now };
  await db.insertInto('orgs').values(org).execute();
  return org;
}

export async function getOrg(db: CatalogDb, id: string): Promise<Org | undefined> {
  return db.selectFrom('orgs').selectAll().where('id', '=', id).executeTakeFirst();
}

export type AccountKind = 'user' | 'service_account';

/** Users (kind 'user') or service accounts of one org, or of every org when orgId is undefined. */
export async function listAccounts(db: CatalogDb, kind: AccountKind, orgId: string | undefined): Promise<Principal[]> {
  let query = db.selectFrom('users').selectAll().where('kind', '=', kind);
  if (orgId !== undefined) query = query.where('org_id', '=', orgId);
  return Promise.all((await query.orderBy('created').execute()).map((u) => principalOf(db, u)));
}

export async function getAccount(db: CatalogDb, id: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export interface NewAccount {
  org_id: string;
  kind: AccountKind;
  email: string;
  name: string | null;
  password_hash: string;
  roles: readonly string[];
}

export async function createAccount(db: CatalogDb, fields: NewAccount): Promise<Principal> {
  const now = isoMicros();
  const { roles, ...rest } = fields;
  const user: User = { id: randomUUID(), ...rest, token_generation: 0, created: now, modified: now };
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('users').values(user).execute();
    for (const role of new Set(roles)) await trx.insertInto('user_roles').values({ user_id: user.id, role }).execute();
  });
  return principalOf(db, user);
}

/** Deletes a user or service account; its sessions, roles and invites go with it (foreign keys cascade). */
export async function deleteAccount(db: CatalogDb, id: string): Promise<void> {
  await db.deleteFrom('users').where('id', '=', id).execute();
}

export async function addRoles(db: CatalogDb, userId: string, roles: readonly string[]): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const held = new Set((await trx.selectFrom('user_roles').select('role').where('user_id', '=', userId).execute()).map((r) => r.role));
    for (const role of new Set(roles)) if (!held.has(role)) await trx.insertInto('user_roles').values({ user_id: userId, role }).execute();
  });
}

export async function removeRoles(db: CatalogDb, userId: string, roles: readonly string[]): Promise<void> {
  if (roles.length === 0) return;
  await db
    .deleteFrom('user_roles')
    .where('user_id', '=', userId)
    .where('role', 'in', [...roles])
    .execute();
}

export async function countRoleHolders(db: CatalogDb, role: string): Promise<number> {
  const row = await db
    .selectFrom('user_roles')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('role', '=', role)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** A one-time set-password token for the user, stored hashed like sessions. */
export async function createInvite(db: CatalogDb, userId: string, ttlSeconds: number): Promise<{ token: string; expiresAtMs: number }> {
  const token = randomBytes(32).toString('base64url');
  const expiresAtMs = Date.now() + ttlSeconds * 1000;
  await db
    .insertInto('invites')
    .values({ token_hash: hashToken(token), user_id: userId, expires_at_ms: expiresAtMs })
    .execute();
  await db.deleteFrom('invites').where('expires_at_ms', '<', Date.now()).execute();
  return { token, expiresAtMs };
}

export async function listInvites(db: CatalogDb, orgId: string | undefined): Promise<{ user: User; expiresAtMs: number }[]> {
  let query = db.selectFrom('invites').innerJoin('users', 'users.id', 'invites.user_id').selectAll('users').select('invites.expires_at_ms').where('invites.expires_at_ms', '>', Date.now());
  if (orgId !== undefined) query = query.where('users.org_id', '=', orgId);
  return (await query.execute()).map(({ expires_at_ms, ...user }) => ({ user, expiresAtMs: expires_at_ms }));
}

/** Uses an invite: sets the password and deletes the invite in one transaction, so a link works once. */
export async function acceptInvite(db: CatalogDb, token: string, passwordHash: string): Promise<User | undefined> {
  return db.transaction().execute(async (trx) => {
    const invite = await trx.deleteFrom('invites').where('token_hash', '=', hashToken(token)).where('expires_at_ms', '>', Date.now()).returning('user_id').executeTakeFirst();
    if (!invite) return undefined;
    await trx.deleteFrom('invites').where('user_id', '=', invite.user_id).execute();
    await trx.updateTable('users').set({ password_hash: passwordHash, modified: isoMicros() }).where('id', '=', invite.user_id).execute();
    await trx.deleteFrom('sessions').where('user_id', '=', invite.user_id).execute();
    return trx.selectFrom('users').selectAll().where('id', '=', invite.user_id).executeTakeFirst();
  });
}

/** Revokes every JWT of a service account: they carry the generation they were signed in. */
export async function raiseTokenGeneration(db: CatalogDb, userId: string): Promise<void> {
  await db
    .updateTable('users')
    .set((eb) => ({ token_generation: eb('token_generation', '+', 1), modified: isoMicros() }))
    .where('id', '=', userId)
    .execute();
}

/** The named key, generated by `generate` on the first start that asks; every process then reads the same one. */
export async function signingKey(db: CatalogDb, name: string, generate: () => string): Promise<string> {
  await db
    .insertInto('signing_keys')
    .values({ name, secret: generate(), created: isoMicros() })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const row = await db.selectFrom('signing_keys').select('secret').where('name', '=', name).executeTakeFirstOrThrow();
  return row.secret;
}
