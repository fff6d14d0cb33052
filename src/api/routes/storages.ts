import type { FastifyInstance, FastifyRequest } from 'fastify';
import { getOrgForUser } from '../../catalog/accounts.js';
import type { Org, StorageRow } from '../../catalog/schema.js';
import { createStorage, deleteStorage, getOrgStorage, getStorageById, listOrgStorages, storageHasPartitions, tablesUsingStorage, updateStorage, type StorageFields } from '../../catalog/storages.js';
import { ConflictError, NotFoundError } from '../../errors.js';
import { storageUrlOf, validateStorageSettings, type StorageSettings } from '../../storage/settings.js';
import { requireCredential } from '../../catalog/credentials.js';
import type { ApiContext } from '../context.js';
import { storageView } from '../views.js';
import { checkedDescription, checkedName } from '../../names.js';

type Body = Record<string, unknown>;

const bodySchema = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1 },
    description: { type: ['string', 'null'] },
    settings: { type: 'object' },
  },
} as const;

/** PUT replaces a storage (name and settings required); PATCH changes only the fields it sends. */
function storageFields(body: Body, current: StorageRow | undefined, replace: boolean, processEndpoint: string | undefined): StorageFields {
  const name = checkedName(body.name ?? (replace ? undefined : current?.name), 'the storage');
  const given = checkedDescription(body.description);
  const description = given !== undefined ? given : replace ? null : (current?.description ?? null);
  const raw = body.settings !== undefined ? body.settings : replace || !current ? undefined : (JSON.parse(current.settings) as unknown);
  return { name, description, settings: JSON.stringify(validateStorageSettings(raw, processEndpoint)) };
}

/**
 * The org's storages (buckets partitions can be kept in) and the boot-time default one
 * (INLET_STORAGE_URL), which is listed first and cannot be changed or deleted here.
 */
export function storageRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { catalog, storage } = ctx;
  const base = '/config/v1/orgs/:org/storages';

  const org = async (request: FastifyRequest): Promise<Org> => {
    const id = (request.params as { org: string }).org;
    const found = await getOrgForUser(catalog.db, request.user!, id);
    if (!found) throw new NotFoundError(`org ${id} not found`);
    return found;
  };
  const defaultView = async (orgId: string) => {
    const row = await getStorageById(catalog, storage.defaultId);
    const fields = { id: storage.defaultId, name: 'default', description: 'INLET_STORAGE_URL', created: row?.created ?? null, modified: row?.modified ?? null };
    return storageView({ ...fields, settings: storage.defaultSettings() }, orgId, true);
  };
  const view = (row: StorageRow) => storageView({ ...row, settings: JSON.parse(row.settings) as unknown }, row.org_id!, false);
  const isDefault = (request: FastifyRequest) => (request.params as { storage: string }).storage === storage.defaultId;
  const own = async (request: FastifyRequest) => getOrgStorage(catalog, (await org(request)).id, (request.params as { storage: string }).storage);

  app.get(base, async (request) => {
    const o = await org(request);
    return [await defaultView(o.id), ...(await listOrgStorages(catalog, o.id)).map(view)];
  });
  app.post<{ Body: Body }>(base, { schema: { body: bodySchema } }, async (request, reply) => {
    const o = await org(request);
    if (request.body.name === 'default') throw new ConflictError('a storage named "default" already exists (INLET_STORAGE_URL): choose another name');
    const fields = storageFields(request.body, undefined, true, ctx.config.s3Endpoint);
    await requireCredential(catalog, o.id, (JSON.parse(fields.settings) as StorageSettings).credential_id, 'settings.credential_id');
    return reply.status(201).send(view(await createStorage(catalog, o.id, fields)));
  });
  app.get(`${base}/:storage`, async (request) => (isDefault(request) ? defaultView((await org(request)).id) : view(await own(request))));
  for (const method of ['PATCH', 'PUT'] as const) {
    app.route<{ Body: Body }>({
      method,
      url: `${base}/:storage`,
      schema: { body: bodySchema },
      handler: async (request) => {
        if (isDefault(request)) throw new ConflictError('the default storage is set by INLET_STORAGE_URL on every process: change it there');
        const current = await own(request);
        const fields = storageFields(request.body, current, method === 'PUT', ctx.config.s3Endpoint);
        await requireCredential(catalog, current.org_id!, (JSON.parse(fields.settings) as StorageSettings).credential_id, 'settings.credential_id');
        const moved = storageUrlOf(JSON.parse(fields.settings)) !== storageUrlOf(JSON.parse(current.settings)) || JSON.parse(fields.settings).endpoint !== JSON.parse(current.settings).endpoint;
        if (moved && (await storageHasPartitions(catalog, current.id))) {
          throw new ConflictError(`storage "${current.name}" holds partitions: its bucket_name, bucket_path and endpoint cannot change (they would be lost); create another storage instead`);
        }
        return view(await updateStorage(catalog, current, fields));
      },
    });
  }
  app.delete(`${base}/:storage`, async (request, reply) => {
    if (isDefault(request)) throw new ConflictError('the default storage is set by INLET_STORAGE_URL and cannot be deleted');
    const current = await own(request);
    const tables = await tablesUsingStorage(catalog, current.org_id!, current.id);
    if (tables.length > 0) throw new ConflictError(`storage "${current.name}" is the storage of tables ${tables.join(', ')}: change their settings.storage_map first`);
    if (await storageHasPartitions(catalog, current.id)) throw new ConflictError(`storage "${current.name}" holds partitions of tables: delete those tables first`);
    await deleteStorage(catalog, current);
    return reply.status(204).send();
  });
}
