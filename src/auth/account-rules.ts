import { getAccount, getOrg, findOrgByName, type AccountKind, type Principal } from '../catalog/accounts.js';
import type { CatalogDb } from '../catalog/db.js';
import type { Org, User } from '../catalog/schema.js';
import { NotFoundError, PermissionError, ValidationError } from '../errors.js';
import { isRole, ROLES } from './permissions.js';

/**
 * Which accounts and orgs a caller may act on. A super admin acts on every org's accounts; anyone
 * else on their own org's only, and another org's accounts answer 404 as if they did not exist.
 */
export const isSuperAdmin = (principal: Principal): boolean => principal.roles.includes('super_admin');

/** The orgs whose accounts the caller sees: undefined means all. */
export const visibleOrg = (principal: Principal): string | undefined => (isSuperAdmin(principal) ? undefined : principal.org_id);

export async function visibleAccount(db: CatalogDb, principal: Principal, id: string, kind: AccountKind | undefined): Promise<User> {
  const account = await getAccount(db, id);
  const what = kind === 'service_account' ? 'service account' : 'user';
  if (!account || (kind !== undefined && account.kind !== kind) || (!isSuperAdmin(principal) && account.org_id !== principal.org_id)) {
    throw new NotFoundError(`${what} ${id} not found`);
  }
  return account;
}

/** The org an account is created in: the caller's by default; another (by uuid or name) only for a super admin. */
export async function targetOrg(db: CatalogDb, principal: Principal, given: unknown): Promise<Org> {
  if (given === undefined || given === null) return (await getOrg(db, principal.org_id))!;
  if (typeof given !== 'string' || given === '') throw new ValidationError(`org is ${JSON.stringify(given)}: give the org's uuid, or leave it out for your own org`);
  const org = (await getOrg(db, given)) ?? (await findOrgByName(db, given));
  if (!org || (!isSuperAdmin(principal) && org.id !== principal.org_id)) throw new NotFoundError(`org ${JSON.stringify(given.slice(0, 100))} not found`);
  return org;
}

/** The role names of a body's `roles`, each a built-in role; only a super admin hands out (or takes away) super_admin. */
export function grantableRoles(principal: Principal, given: unknown, field = 'roles'): string[] {
  if (given === undefined) return [];
  if (!Array.isArray(given) || given.length > Object.keys(ROLES).length * 4) throw new ValidationError(`${field} is ${JSON.stringify(given)?.slice(0, 200)}: give a list of role names (${Object.keys(ROLES).join(', ')})`);
  for (const role of given) {
    if (!isRole(role)) throw new ValidationError(`${field} contains ${JSON.stringify(role)?.slice(0, 100)}, which is not a role: use ${Object.keys(ROLES).join(', ')} (GET /config/v1/roles/)`);
    if (role === 'super_admin' && !isSuperAdmin(principal)) throw new PermissionError('only a super_admin can grant or remove the role "super_admin"');
  }
  return [...new Set(given as string[])];
}

/** Only a super admin changes or deletes a super admin's account. */
export function requireMayManage(principal: Principal, targetRoles: readonly string[]): void {
  if (targetRoles.includes('super_admin') && !isSuperAdmin(principal)) throw new PermissionError('only a super_admin can change or delete a super_admin account');
}
