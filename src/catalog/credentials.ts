import { randomUUID } from 'node:crypto';
import type { SecretBox } from '../auth/secret-box.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { isoMicros } from '../time.js';
import type { Catalog } from './db.js';
import type { CredentialRow } from './schema.js';

/** The secret fields of an S3 credential: sealed in the catalog, never answered or logged. */
export interface CredentialSecrets {
  readonly access_key_id: string;
  readonly secret_access_key: string;
  readonly session_token?: string;
}

/** What the credential's S3 client needs: the secrets, and where (region, endpoint). */
export interface S3Credential extends CredentialSecrets {
  readonly region?: string;
  readonly endpoint?: string;
}

export interface CredentialFields {
  name: string;
  description: string | null;
  type: string;
  /** What is stored in the clear: where, and whether the secrets hold a session token. */
  settings: { region?: string; endpoint?: string; has_session_token?: boolean };
  secrets: CredentialSecrets;
}

/** The associated data a credential's secrets are sealed with: they open only in their own row. */
const sealContext = (orgId: string, id: string) => `credential\n${orgId}\n${id}`;

export async function createCredential(catalog: Catalog, box: SecretBox, orgId: string, fields: CredentialFields): Promise<CredentialRow> {
  const exists = await catalog.db.selectFrom('credentials').select('id').where('org_id', '=', orgId).where('name', '=', fields.name).executeTakeFirst();
  if (exists) throw new ConflictError(`a credential named "${fields.name}" already exists in this org: choose another name, or delete it first`);
  const now = isoMicros();
  const id = randomUUID();
  const row: CredentialRow = {
    id,
    org_id: orgId,
    name: fields.name,
    description: fields.description,
    type: fields.type,
    sealed: box.seal(JSON.stringify(fields.secrets), sealContext(orgId, id)),
    settings: JSON.stringify(fields.settings),
    created: now,
    modified: now,
  };
  await catalog.db.insertInto('credentials').values(row).execute();
  return row;
}

/**
 * Replaces a credential's fields and secrets, sealed again. Its `modified` changes, and with it
 * the key processes cache its S3 clients by, so the next use of it opens the new keys.
 */
export async function updateCredential(catalog: Catalog, box: SecretBox, row: CredentialRow, fields: CredentialFields): Promise<CredentialRow> {
  const clash = await catalog.db.selectFrom('credentials').select('id').where('org_id', '=', row.org_id).where('name', '=', fields.name).where('id', '!=', row.id).executeTakeFirst();
  if (clash) throw new ConflictError(`a credential named "${fields.name}" already exists in this org: choose another name`);
  const updated: CredentialRow = {
    ...row,
    name: fields.name,
    description: fields.description,
    type: fields.type,
    sealed: box.seal(JSON.stringify(fields.secrets), sealContext(row.org_id, row.id)),
    settings: JSON.stringify(fields.settings),
    modified: laterThan(row.modified),
  };
  const { id: _, org_id: __, created: ___, ...changed } = updated;
  await catalog.db.updateTable('credentials').set(changed).where('id', '=', row.id).execute();
  return updated;
}

/** Now, or a microsecond past `previous` when the clock has not moved past it: a changed row's `modified` always changes. */
function laterThan(previous: string): string {
  const now = isoMicros();
  return now > previous ? now : isoMicros(new Date(Date.parse(previous) + 1));
}

export async function listCredentials(catalog: Catalog, orgId: string): Promise<CredentialRow[]> {
  return catalog.db.selectFrom('credentials').selectAll().where('org_id', '=', orgId).orderBy('name').execute();
}

/** One of the org's credentials; another org's is "not found", like one that does not exist. */
export async function getCredential(catalog: Catalog, orgId: string, id: string): Promise<CredentialRow> {
  const row = await catalog.db.selectFrom('credentials').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError(`credential ${JSON.stringify(id.slice(0, 100))} not found in this org: list them with GET /config/v1/orgs/{org}/credentials/`);
  return row;
}

export async function deleteCredential(catalog: Catalog, row: CredentialRow): Promise<void> {
  await catalog.db.deleteFrom('credentials').where('id', '=', row.id).execute();
}

/** The credential's secrets and settings, opened with the operator's key. */
export function openCredential(box: SecretBox, row: CredentialRow): S3Credential {
  const secrets = JSON.parse(box.open(row.sealed, sealContext(row.org_id, row.id))) as CredentialSecrets;
  return { ...secrets, ...(JSON.parse(row.settings) as { region?: string; endpoint?: string }) };
}

/** A credential_id given in a job or a storage must name one of its org's credentials. */
export async function requireCredential(catalog: Catalog, orgId: string, id: string | undefined, field: string): Promise<void> {
  if (id === undefined) return;
  const row = await catalog.db.selectFrom('credentials').select('id').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
  if (!row) throw new ValidationError(`${field} ${JSON.stringify(id.slice(0, 100))} is not a credential of this org: create one with POST /config/v1/orgs/{org}/credentials/, or leave it out to use the processes' own`);
}

/** The names of the org's storages that reach their bucket with the credential. */
export async function storagesUsingCredential(catalog: Catalog, orgId: string, id: string): Promise<string[]> {
  const rows = await catalog.db.selectFrom('storages').select(['name', 'settings']).where('org_id', '=', orgId).execute();
  return rows.filter((r) => (JSON.parse(r.settings) as { credential_id?: string }).credential_id === id).map((r) => r.name);
}
