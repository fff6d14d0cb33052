import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createAccount, deleteAccount, getAccount, listAccounts, principalOf, raiseTokenGeneration, rolesOf } from '../../catalog/accounts.js';
import { grantableRoles, requireMayManage, targetOrg, visibleAccount, visibleOrg } from '../../auth/account-rules.js';
import { ConflictError, ValidationError } from '../../errors.js';
import { rejectUnknownKeys } from '../../known-keys.js';
import type { ApiContext } from '../context.js';
import { serviceAccountView } from './accounts.js';
import { checkedName } from '../../names.js';

type Body = Record<string, unknown>;

/** A token's lifetime when the request gives no expiry (Hydrolix's default), and the longest one given. */
const DEFAULT_TOKEN_DAYS = 365;
const MAX_TOKEN_YEARS = 100;

function expiryOf(given: unknown): Date {
  if (given === undefined || given === null || given === '') return new Date(Date.now() + DEFAULT_TOKEN_DAYS * 86_400_000);
  const at = typeof given === 'string' ? new Date(given) : new Date(NaN);
  const fix = 'give an ISO-8601 UTC time such as "2030-01-01T00:00:00.000Z", or none for 365 days';
  if (Number.isNaN(at.getTime())) throw new ValidationError(`expiry is ${JSON.stringify(given)?.slice(0, 100)}: ${fix}`);
  if (at.getTime() <= Date.now()) throw new ValidationError(`expiry ${JSON.stringify(given)} is in the past: ${fix}`);
  if (at.getTime() > Date.now() + MAX_TOKEN_YEARS * 365 * 86_400_000) throw new ValidationError(`expiry ${JSON.stringify(given)} is more than ${MAX_TOKEN_YEARS} years away: ${fix}`);
  return at;
}

/** Service accounts: accounts of an org that authenticate only with JWTs that admins create for them. */
export function serviceAccountRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const db = ctx.catalog.db;
  const base = '/config/v1/service_accounts';
  const account = async (request: FastifyRequest) => visibleAccount(db, request.user!, (request.params as { account: string }).account, 'service_account');

  app.get(base, async (request) => (await listAccounts(db, 'service_account', visibleOrg(request.user!))).map(serviceAccountView));
  app.post<{ Body: Body }>(base, { schema: { body: { type: 'object' } } }, async (request, reply) => {
    // hdxcli sends a description ("Created with hdxcli tool"): accepted, not kept.
    rejectUnknownKeys(request.body, ['name', 'description', 'org', 'roles'], '');
    const name = checkedName(request.body.name, 'the service account');
    const org = await targetOrg(db, request.user!, request.body.org);
    const roles = grantableRoles(request.user!, request.body.roles);
    if ((await listAccounts(db, 'service_account', org.id)).some((a) => a.name === name)) throw new ConflictError(`org "${org.name}" has a service account named "${name}" already`);
    // Service accounts never log in by email: theirs is a unique placeholder no address can match.
    const created = await createAccount(db, { org_id: org.id, kind: 'service_account', email: `${randomUUID()}@service-account.invalid`, name, password_hash: '', roles });
    return reply.status(201).send(serviceAccountView(created));
  });
  app.get(`${base}/:account`, async (request) => serviceAccountView(await principalOf(db, await account(request))));
  app.delete(`${base}/:account`, async (request, reply) => {
    const target = await account(request);
    requireMayManage(request.user!, await rolesOf(db, target.id));
    await deleteAccount(db, target.id);
    request.server.sessions.accountChanged(target.id);
    return reply.status(204).send();
  });
  app.post<{ Body: Body | undefined; Querystring: { expiry?: string } }>(`${base}/:account/tokens`, async (request) => {
    const body = request.body ?? {};
    if (typeof body !== 'object' || Array.isArray(body)) throw new ValidationError('the body must be a JSON object such as {"expiry": "2030-01-01T00:00:00.000Z"}, or empty');
    rejectUnknownKeys(body, ['expiry'], '');
    const target = await account(request);
    requireMayManage(request.user!, await rolesOf(db, target.id));
    const current = (await getAccount(db, target.id))!;
    const token = await ctx.access.serviceTokens.sign(current.id, current.token_generation, expiryOf(body.expiry ?? request.query.expiry));
    return { token };
  });
  app.delete(`${base}/:account/tokens`, async (request, reply) => {
    const target = await account(request);
    requireMayManage(request.user!, await rolesOf(db, target.id));
    await raiseTokenGeneration(db, target.id);
    request.server.sessions.accountChanged(target.id);
    return reply.status(204).send();
  });
}
