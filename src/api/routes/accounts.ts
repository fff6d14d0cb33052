import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  acceptInvite,
  addRoles,
  countRoleHolders,
  createAccount,
  createInvite,
  createOrg,
  deleteAccount,
  findOrgByName,
  findUserByEmail,
  listAccounts,
  listInvites,
  principalOf,
  removeRoles,
  rolesOf,
  setUserPassword,
  type Principal,
} from '../../catalog/accounts.js';
import { grantableRoles, requireMayManage, targetOrg, visibleAccount, visibleOrg } from '../../auth/account-rules.js';
import { hashPassword } from '../../auth/password.js';
import { PERMISSIONS, ROLES } from '../../auth/permissions.js';
import { AuthenticationError, ConflictError, NotFoundError, ValidationError } from '../../errors.js';
import { rejectUnknownKeys } from '../../known-keys.js';
import type { ApiContext } from '../context.js';
import { passwordLogin } from '../auth.js';
import { orgView } from '../views.js';
import { MAX_PASSWORD_LENGTH } from './auth.js';
import { checkedName } from '../../names.js';

type Body = Record<string, unknown>;

/** How long an invite's set-password link works. */
const INVITE_TTL_SECONDS = 7 * 24 * 3600;

const objectBody = { type: 'object' } as const;

export const userView = (u: Principal) => ({
  uuid: u.id,
  email: u.email,
  org: u.org_id,
  roles: u.roles,
  // An invited user who has not followed the link yet cannot log in.
  has_password: u.password_hash !== '',
  created: u.created,
  modified: u.modified,
});

function password(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_PASSWORD_LENGTH) {
    throw new ValidationError(`${field} must be a non-empty string of at most ${MAX_PASSWORD_LENGTH} characters`);
  }
  return value;
}

function email(value: unknown): string {
  if (typeof value !== 'string' || value.length > 320 || !/^[^\s@]+@[^\s@]+$/.test(value)) {
    throw new ValidationError(`email is ${JSON.stringify(value)?.slice(0, 200)}: give an address such as name@example.com`);
  }
  return value;
}

/** Orgs, users, invites and roles (Hydrolix's paths). Service accounts are in service-accounts.ts. */
export function accountRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const db = ctx.catalog.db;
  const caller = (request: FastifyRequest) => request.user!;
  const inviteUrl = (request: FastifyRequest, token: string) => `${request.protocol}://${request.host}/config/v1/invites/${token}/accept/`;

  // ---- roles
  app.get('/config/v1/roles', async () => Object.entries(ROLES).map(([name, role]) => ({ id: name, name, description: role.description, permissions: role.permissions })));
  // hdxcli's `role permission list`: every permission, in one scope (Inlet's roles are org-wide).
  app.get('/config/v1/roles/permissions', async () => [{ scope_type: 'org', permissions: PERMISSIONS }]);

  // ---- orgs (a super admin's; listing and showing are in resources.ts)
  app.post<{ Body: Body }>('/config/v1/orgs', { schema: { body: objectBody } }, async (request, reply) => {
    rejectUnknownKeys(request.body, ['name', 'description', 'type'], '');
    const name = checkedName(request.body.name, 'the org');
    if (await findOrgByName(db, name)) throw new ConflictError(`an org named "${name}" already exists: choose another name`);
    return reply.status(201).send(orgView(await createOrg(db, name)));
  });

  // ---- users
  /** A user with the body's roles; without a password it gets an invite, whose link the answer carries. */
  const createUser = async (request: FastifyRequest<{ Body: Body }>, passwordAllowed: boolean) => {
    const body = request.body;
    rejectUnknownKeys(body, passwordAllowed ? ['email', 'org', 'roles', 'password', 'username'] : ['email', 'org', 'roles'], '');
    const address = email(body.email);
    const org = await targetOrg(db, caller(request), body.org);
    const roles = grantableRoles(caller(request), body.roles);
    if (await findUserByEmail(db, address)) throw new ConflictError(`a user with email ${address} already exists`);
    const given = passwordAllowed && body.password !== undefined ? password(body.password, 'password') : undefined;
    const user = await createAccount(db, { org_id: org.id, kind: 'user', email: address, name: null, password_hash: given === undefined ? '' : await hashPassword(given), roles });
    if (given !== undefined) return userView(user);
    const invite = await createInvite(db, user.id, INVITE_TTL_SECONDS);
    return { ...userView(user), invite_url: inviteUrl(request, invite.token), invite_expires_at: new Date(invite.expiresAtMs).toISOString() };
  };
  const account = async (request: FastifyRequest) => visibleAccount(db, caller(request), (request.params as { user: string }).user, undefined);

  // Service accounts are listed with the users, as Hydrolix does: hdxcli reads their roles here.
  app.get('/config/v1/users', async (request) => {
    const org = visibleOrg(caller(request));
    return [...(await listAccounts(db, 'user', org)).map(userView), ...(await listAccounts(db, 'service_account', org)).map(accountView)];
  });
  app.post<{ Body: Body }>('/config/v1/users', { schema: { body: objectBody } }, async (request, reply) => reply.status(201).send(await createUser(request, true)));
  app.get('/config/v1/users/:user', async (request) => userView(await principalOf(db, await account(request))));
  app.delete('/config/v1/users/:user', async (request, reply) => {
    const target = await account(request);
    if (target.id === caller(request).id) throw new ConflictError('you cannot delete your own account: ask another admin');
    const roles = await rolesOf(db, target.id);
    requireMayManage(caller(request), roles);
    await deleteAccount(db, target.id);
    request.server.sessions.accountChanged(target.id);
    return reply.status(204).send();
  });
  for (const [action, change] of [
    ['add_roles', addRoles],
    ['remove_roles', removeRoles],
  ] as const) {
    app.post<{ Body: Body }>(`/config/v1/users/:user/${action}`, { schema: { body: objectBody } }, async (request) => {
      rejectUnknownKeys(request.body, ['roles'], '');
      if (!Array.isArray(request.body.roles)) throw new ValidationError('roles is missing: send {"roles": ["role_name", ...]}');
      const target = await account(request);
      requireMayManage(caller(request), await rolesOf(db, target.id));
      const roles = grantableRoles(caller(request), request.body.roles);
      if (action === 'remove_roles' && roles.includes('super_admin') && (await rolesOf(db, target.id)).includes('super_admin') && (await countRoleHolders(db, 'super_admin')) <= 1) {
        throw new ConflictError(`${target.email} is the last super_admin: grant the role to another account first`);
      }
      await change(db, target.id, roles);
      request.server.sessions.accountChanged(target.id);
      return accountView(await principalOf(db, target));
    });
  }
  app.post<{ Body: Body }>('/config/v1/users/change_password', { schema: { body: objectBody } }, async (request, reply) => {
    rejectUnknownKeys(request.body, ['old_password', 'new_password'], '');
    const me = caller(request);
    if (me.kind !== 'user') throw new ValidationError('a service account has no password: it uses tokens');
    const oldPassword = password(request.body.old_password, 'old_password');
    const newPassword = password(request.body.new_password, 'new_password');
    // Checked like a login (and counted against its limits): a stolen token alone cannot change the password.
    if (!(await passwordLogin(ctx.catalog, request, me.email, oldPassword))) throw new AuthenticationError('old_password is wrong');
    await setUserPassword(db, me.id, await hashPassword(newPassword));
    request.server.sessions.accountChanged(me.id);
    return reply.status(204).send();
  });

  // ---- invites
  app.get('/config/v1/invites', async (request) =>
    (await listInvites(db, visibleOrg(caller(request)))).map(({ user, expiresAtMs }) => ({ uuid: user.id, email: user.email, org: user.org_id, expires_at: new Date(expiresAtMs).toISOString() })),
  );
  // hdxcli's `user invite` posts to the singular path.
  for (const url of ['/config/v1/invites', '/config/v1/invite']) {
    app.post<{ Body: Body }>(url, { schema: { body: objectBody } }, async (request, reply) => reply.status(201).send(await createUser(request, false)));
  }
  app.post<{ Body: Body; Params: { token: string } }>('/config/v1/invites/:token/accept', { schema: { body: objectBody } }, async (request) => {
    rejectUnknownKeys(request.body, ['password'], '');
    const chosen = password(request.body.password, 'password');
    const user = await acceptInvite(db, request.params.token, await hashPassword(chosen));
    if (!user) throw new NotFoundError('this invite link is not valid: it was used already, has expired, or its user was deleted; ask an admin for a new invite');
    request.server.sessions.accountChanged(user.id);
    return { uuid: user.id, email: user.email, detail: 'password set: log in with POST /config/v1/login' };
  });
}

/** A user's or a service account's view, whichever the account is (add_roles/ serves both). */
export function accountView(account: Principal) {
  return account.kind === 'service_account' ? serviceAccountView(account) : userView(account);
}

export const serviceAccountView = (a: Principal) => ({ uuid: a.id, name: a.name, email: a.email, is_service_account: true, org: a.org_id, roles: a.roles, created: a.created, modified: a.modified });
