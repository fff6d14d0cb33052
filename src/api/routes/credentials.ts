import type { FastifyInstance, FastifyRequest } from 'fastify';
import { getOrgForUser } from '../../catalog/accounts.js';
import { createCredential, deleteCredential, getCredential, listCredentials, storagesUsingCredential } from '../../catalog/credentials.js';
import type { CredentialRow, Org } from '../../catalog/schema.js';
import { ConflictError, NotConfiguredError, NotFoundError, ValidationError } from '../../errors.js';
import { rejectUnknownKeys } from '../../known-keys.js';
import { AWS_ENDPOINT } from '../../storage/settings.js';
import type { ApiContext } from '../context.js';

type Body = Record<string, unknown>;

const SECRET_KEYS = ['access_key_id', 'secret_access_key', 'session_token'] as const;
const SETTINGS_KEYS = [...SECRET_KEYS, 'region', 'endpoint'];
const TYPE = 'aws_access_keys';

/** A credential as answered: its secrets only as set or not, never their values. */
const credentialView = (row: CredentialRow, secretsSet: readonly string[]) => ({
  uuid: row.id,
  name: row.name,
  description: row.description,
  org: row.org_id,
  type: row.type,
  settings: { ...publicSettings(row), ...Object.fromEntries(SECRET_KEYS.map((k) => [k, secretsSet.includes(k) ? 'set' : 'not set'])) },
  created: row.created,
  modified: row.modified,
  url: `/config/v1/orgs/${row.org_id}/credentials/${row.id}/`,
});

const publicSettings = (row: CredentialRow) => {
  const { has_session_token: _, ...rest } = JSON.parse(row.settings) as Record<string, unknown>;
  return rest;
};

/** Which secrets a stored credential holds, read from what was sealed without opening it: session_token is recorded in settings. */
const secretsOf = (row: CredentialRow) => ['access_key_id', 'secret_access_key', ...((JSON.parse(row.settings) as { has_session_token?: boolean }).has_session_token ? ['session_token'] : [])];

function text(settings: Record<string, unknown>, key: string, required: boolean): string | undefined {
  const value = settings[key];
  if (value === undefined || value === null || value === '') {
    if (required) throw new ValidationError(`settings.${key} is missing: an S3 credential needs access_key_id and secret_access_key`);
    return undefined;
  }
  if (typeof value !== 'string' || value.length > 4096) throw new ValidationError(`settings.${key} must be a string of at most 4096 characters`);
  return value;
}

/**
 * An org's S3 credentials for sources: stored sealed with INLET_SECRET_KEY, used by jobs that
 * name one with settings.source.settings.credential_id, and never answered after creation.
 */
export function credentialRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { catalog } = ctx;
  const base = '/config/v1/orgs/:org/credentials';
  const org = async (request: FastifyRequest): Promise<Org> => {
    const id = (request.params as { org: string }).org;
    const found = await getOrgForUser(catalog.db, request.user!, id);
    if (!found) throw new NotFoundError(`org ${id} not found`);
    return found;
  };
  const own = async (request: FastifyRequest) => getCredential(catalog, (await org(request)).id, (request.params as { credential: string }).credential);

  app.get(base, async (request) => (await listCredentials(catalog, (await org(request)).id)).map((row) => credentialView(row, secretsOf(row))));
  app.post<{ Body: Body }>(base, { schema: { body: { type: 'object' } } }, async (request, reply) => {
    const o = await org(request);
    const box = ctx.access.secrets;
    if (!box) throw new NotConfiguredError('this server has no INLET_SECRET_KEY, so it stores no credentials: the operator sets it (32 bytes, e.g. openssl rand -base64 32) on every process');
    const body = request.body;
    rejectUnknownKeys(body, ['name', 'description', 'type', 'settings', 'uuid', 'org', 'created', 'modified', 'url'], '');
    const name = body.name;
    if (typeof name !== 'string' || name.trim() === '' || name.length > 200) throw new ValidationError(`name is ${JSON.stringify(name)?.slice(0, 200)}: give the credential a non-empty name of at most 200 characters`);
    if (body.type !== undefined && body.type !== TYPE) throw new ValidationError(`type is ${JSON.stringify(body.type)?.slice(0, 100)}: Inlet stores S3 access keys only ("${TYPE}")`);
    if (body.description !== undefined && body.description !== null && typeof body.description !== 'string') throw new ValidationError('description must be a string');
    const settings = body.settings;
    if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
      throw new ValidationError('settings is missing: send {"access_key_id": ..., "secret_access_key": ..., "session_token"?: ..., "region"?: ..., "endpoint"?: ...}');
    }
    const s = settings as Record<string, unknown>;
    rejectUnknownKeys(s, SETTINGS_KEYS, 'settings');
    const endpoint = text(s, 'endpoint', false);
    // A worker sends requests wherever the endpoint says: AWS, or the S3 endpoint the operator configured, never any host an API user names.
    if (endpoint !== undefined && !AWS_ENDPOINT.test(endpoint) && endpoint.replace(/\/$/, '') !== ctx.config.s3Endpoint?.replace(/\/$/, '')) {
      throw new ValidationError(
        `settings.endpoint is ${JSON.stringify(endpoint.slice(0, 200))}: give an https://…amazonaws.com endpoint, ${ctx.config.s3Endpoint ? `the processes' AWS_ENDPOINT_URL_S3 (${ctx.config.s3Endpoint}), ` : ''}or none`,
      );
    }
    const region = text(s, 'region', false);
    const sessionToken = text(s, 'session_token', false);
    const row = await createCredential(catalog, box, o.id, {
      name,
      description: (body.description as string | null | undefined) ?? null,
      type: TYPE,
      settings: { ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}), ...(sessionToken ? { has_session_token: true } : {}) },
      secrets: { access_key_id: text(s, 'access_key_id', true)!, secret_access_key: text(s, 'secret_access_key', true)!, ...(sessionToken ? { session_token: sessionToken } : {}) },
    });
    return reply.status(201).send(credentialView(row, secretsOf(row)));
  });
  app.get(`${base}/:credential`, async (request) => {
    const row = await own(request);
    return credentialView(row, secretsOf(row));
  });
  app.delete(`${base}/:credential`, async (request, reply) => {
    const row = await own(request);
    const storages = await storagesUsingCredential(catalog, row.org_id, row.id);
    if (storages.length > 0) throw new ConflictError(`credential "${row.name}" is used by storages ${storages.join(', ')}: change their settings.credential_id first`);
    await deleteCredential(catalog, row);
    return reply.status(204).send();
  });
}
