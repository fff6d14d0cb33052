import type { FastifyInstance, FastifyRequest } from 'fastify';
import { getOrgForUser } from '../../catalog/accounts.js';
import { createCredential, deleteCredential, getCredential, listCredentials, openCredential, storagesUsingCredential, updateCredential, type CredentialFields, type S3Credential } from '../../catalog/credentials.js';
import type { CredentialRow, Org } from '../../catalog/schema.js';
import { ConflictError, NotConfiguredError, NotFoundError, ValidationError } from '../../errors.js';
import { rejectUnknownKeys } from '../../known-keys.js';
import { AWS_ENDPOINT } from '../../storage/settings.js';
import type { ApiContext } from '../context.js';
import { checkedDescription, checkedName } from '../../names.js';

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

/** What a client that read the credential back sends for a secret it did not change (see credentialView). */
const KEPT = 'set';
const NONE = 'not set';

/**
 * A settings value as given: undefined when absent (or null, or empty), else a string of at most
 * 4096 characters. `kept`, when the credential exists, is what "set" stands for.
 */
function text(settings: Record<string, unknown>, key: string, required: boolean, kept?: string): string | undefined {
  let value = settings[key];
  if (value === KEPT && SECRET_KEYS.includes(key as (typeof SECRET_KEYS)[number])) {
    if (kept === undefined) throw new ValidationError(`settings.${key} is "set": give the ${key} itself (the "set" a credential is answered with stands for a value already stored)`);
    value = kept;
  }
  if (value === NONE && SECRET_KEYS.includes(key as (typeof SECRET_KEYS)[number])) value = undefined;
  if (value === undefined || value === null || value === '') {
    if (required) throw new ValidationError(`settings.${key} is missing: an S3 credential needs access_key_id and secret_access_key`);
    return undefined;
  }
  if (typeof value !== 'string' || value.length > 4096) throw new ValidationError(`settings.${key} must be a string of at most 4096 characters`);
  return value;
}

/**
 * The credential a body makes: POST and PUT give it whole; PATCH changes only the fields it
 * sends, and in `settings` only the keys it sends. New keys without a session_token drop the
 * stored one, which belongs to the old keys. A secret sent as "set" (as GET answers it) keeps
 * the stored value, so a client may send back what it read.
 */
function credentialFields(body: Body, current: { row: CredentialRow; opened?: S3Credential } | undefined, replace: boolean, processEndpoint: string | undefined): CredentialFields {
  rejectUnknownKeys(body, ['name', 'description', 'type', 'settings', 'uuid', 'org', 'created', 'modified', 'url'], '');
  const name = checkedName(body.name ?? (replace ? undefined : current?.row.name), 'the credential');
  if (body.type !== undefined && body.type !== TYPE) throw new ValidationError(`type is ${JSON.stringify(body.type)?.slice(0, 100)}: Inlet stores S3 access keys only ("${TYPE}")`);
  const described = checkedDescription(body.description);
  const description = described !== undefined ? described : replace ? null : (current?.row.description ?? null);
  const given = body.settings ?? (replace || !current ? undefined : {});
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new ValidationError('settings is missing: send {"access_key_id": ..., "secret_access_key": ..., "session_token"?: ..., "region"?: ..., "endpoint"?: ...}');
  }
  const sent = given as Record<string, unknown>;
  rejectUnknownKeys(sent, SETTINGS_KEYS, 'settings');
  const old = current?.opened;
  const newKeys = ['access_key_id', 'secret_access_key'].some((k) => sent[k] !== undefined && sent[k] !== KEPT);
  // PATCH: what is not sent stays, except a session token the new keys replace.
  const s: Record<string, unknown> =
    replace || !old ? sent : { region: old.region, endpoint: old.endpoint, access_key_id: KEPT, secret_access_key: KEPT, ...(newKeys ? {} : { session_token: old.session_token ? KEPT : NONE }), ...sent };
  const endpoint = text(s, 'endpoint', false);
  // A worker sends requests wherever the endpoint says: AWS, or the S3 endpoint the operator configured, never any host an API user names.
  if (endpoint !== undefined && !AWS_ENDPOINT.test(endpoint) && endpoint.replace(/\/$/, '') !== processEndpoint?.replace(/\/$/, '')) {
    throw new ValidationError(
      `settings.endpoint is ${JSON.stringify(endpoint.slice(0, 200))}: give an https://…amazonaws.com endpoint, ${processEndpoint ? `the processes' AWS_ENDPOINT_URL_S3 (${processEndpoint}), ` : ''}or none`,
    );
  }
  const region = text(s, 'region', false);
  const sessionToken = text(s, 'session_token', false, old?.session_token);
  return {
    name,
    description,
    type: TYPE,
    settings: { ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}), ...(sessionToken ? { has_session_token: true } : {}) },
    secrets: {
      access_key_id: text(s, 'access_key_id', true, old?.access_key_id)!,
      secret_access_key: text(s, 'secret_access_key', true, old?.secret_access_key)!,
      ...(sessionToken ? { session_token: sessionToken } : {}),
    },
  };
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
  const sealer = () => {
    const box = ctx.access.secrets;
    if (!box) throw new NotConfiguredError('this server has no INLET_SECRET_KEY, so it stores no credentials: the operator sets it (32 bytes, e.g. openssl rand -base64 32) on every process');
    return box;
  };
  const own = async (request: FastifyRequest) => getCredential(catalog, (await org(request)).id, (request.params as { credential: string }).credential);

  app.get(base, async (request) => (await listCredentials(catalog, (await org(request)).id)).map((row) => credentialView(row, secretsOf(row))));
  app.post<{ Body: Body }>(base, { schema: { body: { type: 'object' } } }, async (request, reply) => {
    const o = await org(request);
    const box = sealer();
    const row = await createCredential(catalog, box, o.id, credentialFields(request.body, undefined, true, ctx.config.s3Endpoint));
    return reply.status(201).send(credentialView(row, secretsOf(row)));
  });
  app.get(`${base}/:credential`, async (request) => {
    const row = await own(request);
    return credentialView(row, secretsOf(row));
  });
  for (const method of ['PATCH', 'PUT'] as const) {
    app.route<{ Body: Body }>({
      method,
      url: `${base}/:credential`,
      schema: { body: { type: 'object' } },
      handler: async (request) => {
        const box = sealer();
        const row = await own(request);
        let opened: S3Credential | undefined;
        try {
          opened = openCredential(box, row);
        } catch {
          // Sealed with another key: PUT can still replace it whole, with new secrets.
          if (method === 'PATCH') throw new ConflictError(`credential "${row.name}" cannot be opened with this server's INLET_SECRET_KEY (it was stored with another): give it whole, secrets included, with PUT`);
        }
        const updated = await updateCredential(catalog, box, row, credentialFields(request.body, { row, opened }, method === 'PUT', ctx.config.s3Endpoint));
        return credentialView(updated, secretsOf(updated));
      },
    });
  }
  app.delete(`${base}/:credential`, async (request, reply) => {
    const row = await own(request);
    const storages = await storagesUsingCredential(catalog, row.org_id, row.id);
    if (storages.length > 0) throw new ConflictError(`credential "${row.name}" is used by storages ${storages.join(', ')}: change their settings.credential_id first`);
    await deleteCredential(catalog, row);
    return reply.status(204).send();
  });
}
