import type { FastifyInstance, FastifyRequest } from 'fastify';
import { getOrgForUser, listOrgsForUser } from '../../catalog/accounts.js';
import { tableStorageIds } from '../../catalog/partitions.js';
import { checkStorageMap } from '../../catalog/storages.js';
import {
  createProject,
  createTable,
  deleteProject,
  deleteTable,
  deleteTransform,
  getProject,
  getTable,
  getTransform,
  listProjects,
  listTables,
  listTransforms,
  saveTransform,
  updateProject,
  updateTable,
  type NamedFields,
} from '../../catalog/resources.js';
import type { Org, Project, TableRow, TransformRow } from '../../catalog/schema.js';
import { errorMessage, NotFoundError, ValidationError } from '../../errors.js';
import { rejectUnknownKeys } from '../../known-keys.js';
import { checkSqlTransform } from '../../transform/sql-check.js';
import { validateTransform } from '../../transform/validate.js';
import type { ApiContext } from '../context.js';
import { orgView, projectView, tableView, transformView } from '../views.js';
import { checkedDescription, checkedName } from '../../names.js';
import { SYSTEM_SCHEMA } from '../../query/system-names.js';

type Body = Record<string, unknown>;
type Params = { org: string; project: string; table: string; transform: string };

const bodySchema = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1 },
    description: { type: ['string', 'null'] },
    settings: { type: 'object' },
    type: { type: 'string' },
  },
} as const;

/**
 * The keys of each resource's body. The read-only ones of its answer (ids, times, parents, url)
 * are accepted and ignored, since clients such as hdxcli send back what they read on update.
 */
const READ_ONLY_KEYS = ['uuid', 'created', 'modified', 'url', 'org', 'project', 'table'];
const PROJECT_KEYS = ['name', 'description', 'settings', ...READ_ONLY_KEYS];
const TABLE_KEYS = ['name', 'description', 'settings', 'type', 'primary_key', ...READ_ONLY_KEYS];
const TRANSFORM_KEYS = ['name', 'description', 'type', 'settings', ...READ_ONLY_KEYS];
/**
 * Hydrolix's table settings (hydrolix-api.md 2.2). Inlet stores them as given and runs none (batch
 * jobs carry their own partition settings), but a misspelt one is refused like any other.
 */
const TABLE_SETTINGS_KEYS = ['stream', 'age', 'reaper', 'merge', 'autoingest', 'sort_keys', 'shard_key', 'max_future_days', 'summary', 'scale', 'max_request_bytes', 'storage_map', 'default_query_options', 'rate_limit'];

/** Longest `settings` of a project or table, as JSON: Hydrolix's table settings are a few hundred characters. */
const MAX_SETTINGS_CHARS = 65_536;

/** PUT replaces a resource (name required); PATCH changes only the fields it sends. */
function namedFields(body: Body, current: { name: string; description: string | null; settings: string } | undefined, replace: boolean, known: readonly string[], what: string): NamedFields {
  rejectUnknownKeys(body, known, '');
  const name = checkedName(body.name ?? (replace ? undefined : current?.name), what);
  if (name.includes('.')) throw new ValidationError(`name "${name}" contains ".": names are used in "project.table" references, so they cannot contain dots`);
  const given = checkedDescription(body.description);
  const description = given !== undefined ? given : replace ? null : (current?.description ?? null);
  const settings = body.settings !== undefined ? JSON.stringify(body.settings) : replace || !current ? '{}' : current.settings;
  return { name, description, settings };
}

/** A project's or table's: stored as given and read by no job, so bounded here (a transform's have limits of their own). */
function boundedSettings(fields: NamedFields): NamedFields {
  if (fields.settings.length > MAX_SETTINGS_CHARS) throw new ValidationError(`settings is ${fields.settings.length} characters of JSON: give at most ${MAX_SETTINGS_CHARS}`);
  return fields;
}

/**
 * Names a query's DuckDB keeps for itself (its catalogs, and the schema of the system tables):
 * a project so named could not be queried. Compared without case, as DuckDB resolves names.
 */
const RESERVED_PROJECT_NAMES = ['system', 'temp', 'memory', 'information_schema', 'pg_catalog', SYSTEM_SCHEMA];

function projectFields(body: Body, current: Project | undefined, replace: boolean): NamedFields {
  const fields = boundedSettings(namedFields(body, current, replace, PROJECT_KEYS, 'the project'));
  if (RESERVED_PROJECT_NAMES.includes(fields.name.toLowerCase())) {
    throw new ValidationError(`name "${fields.name}" is reserved: queries name ${RESERVED_PROJECT_NAMES.join(', ')} for themselves (system.tables lists the tables); choose another name`);
  }
  return fields;
}

function tableFields(body: Body, current: TableRow | undefined, replace: boolean): NamedFields {
  if (isObject(body.settings)) rejectUnknownKeys(body.settings, TABLE_SETTINGS_KEYS, 'settings');
  const fields = boundedSettings(namedFields(body, current, replace, TABLE_KEYS, 'the table'));
  // A table's quarantine is queried as project."table#rejects".
  if (fields.name.includes('#')) throw new ValidationError(`name "${fields.name}" contains "#": a table's quarantine is queried as "table#rejects", so table names cannot contain #`);
  return fields;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export function resourceRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { catalog } = ctx;
  const base = '/config/v1/orgs/:org';

  const org = async (request: FastifyRequest): Promise<Org> => {
    const id = (request.params as Params).org;
    const found = await getOrgForUser(catalog.db, request.user!, id);
    if (!found) throw new NotFoundError(`org ${id} not found`);
    return found;
  };
  const project = async (request: FastifyRequest): Promise<Project> => getProject(catalog, (await org(request)).id, (request.params as Params).project);
  const table = async (request: FastifyRequest): Promise<TableRow> => getTable(catalog, await project(request), (request.params as Params).table);
  const transform = async (request: FastifyRequest): Promise<TransformRow> => getTransform(catalog, await table(request), (request.params as Params).transform);
  const primaryKey = async (t: TableRow): Promise<string | null> => {
    const transforms = await listTransforms(catalog, t);
    const doc = transforms.find((x) => x.is_default === 1) ?? transforms[0];
    if (!doc) return null;
    return ctx.transforms.of(doc).transform.primary;
  };

  app.get('/config/v1/orgs', async (request) => (await listOrgsForUser(catalog.db, request.user!)).map(orgView));
  app.get(base, async (request) => orgView(await org(request)));

  // ---- projects
  app.get(`${base}/projects`, async (request) => (await listProjects(catalog, (await org(request)).id)).map(projectView));
  app.post<{ Body: Body }>(`${base}/projects`, { schema: { body: bodySchema } }, async (request, reply) => {
    const created = await createProject(catalog, (await org(request)).id, projectFields(request.body, undefined, true));
    return reply.status(201).send(projectView(created));
  });
  app.get(`${base}/projects/:project`, async (request) => projectView(await project(request)));
  for (const method of ['PATCH', 'PUT'] as const) {
    app.route<{ Body: Body }>({
      method,
      url: `${base}/projects/:project`,
      schema: { body: bodySchema },
      handler: async (request) => {
        const current = await project(request);
        return projectView(await updateProject(catalog, current, projectFields(request.body, current, method === 'PUT')));
      },
    });
  }
  app.delete(`${base}/projects/:project`, async (request, reply) => {
    await deleteProject(catalog, await project(request));
    return reply.status(204).send();
  });

  // ---- tables
  const tables = `${base}/projects/:project/tables`;
  app.get(tables, async (request) => Promise.all((await listTables(catalog, await project(request))).map(async (t) => tableView(t, await primaryKey(t)))));
  app.post<{ Body: Body }>(tables, { schema: { body: bodySchema } }, async (request, reply) => {
    const p = await project(request);
    const fields = tableFields(request.body, undefined, true);
    await checkStorageMap(catalog, p.org_id, fields.settings, ctx.storage.defaultId);
    const created = await createTable(catalog, p, fields);
    return reply.status(201).send(tableView(created, null));
  });
  app.get(`${tables}/:table`, async (request) => {
    const t = await table(request);
    return tableView(t, await primaryKey(t));
  });
  for (const method of ['PATCH', 'PUT'] as const) {
    app.route<{ Body: Body }>({
      method,
      url: `${tables}/:table`,
      schema: { body: bodySchema },
      handler: async (request) => {
        const current = await table(request);
        const fields = tableFields(request.body, current, method === 'PUT');
        await checkStorageMap(catalog, current.org_id, fields.settings, ctx.storage.defaultId);
        const updated = await updateTable(catalog, current, fields);
        return tableView(updated, await primaryKey(updated));
      },
    });
  }
  app.delete(`${tables}/:table`, async (request, reply) => {
    const t = await table(request);
    const storageIds = await tableStorageIds(catalog, t.id);
    await deleteTable(catalog, t);
    // The table is gone from the catalog: files left by a failure here are orphans, which the sweeper removes.
    ctx.queries.forgetTable(t.id);
    await ctx.storage.removeTable(t, storageIds).catch((err: unknown) => request.log.warn({ table: t.id, err: errorMessage(err) }, "removing a deleted table's partitions failed; the sweeper will"));
    return reply.status(204).send();
  });

  // ---- transforms
  const transforms = `${tables}/:table/transforms`;
  const transformFields = async (body: Body, current: TransformRow | undefined, replace: boolean) => {
    const fields = namedFields(body, current, replace, TRANSFORM_KEYS, 'the transform');
    const type = body.type ?? (replace ? undefined : current?.type);
    const { isDefault, transform } = validateTransform(type, JSON.parse(fields.settings));
    await checkSqlTransform(transform);
    return { ...fields, type: type as string, is_default: isDefault ? 1 : 0 };
  };
  app.get(transforms, async (request) => (await listTransforms(catalog, await table(request))).map(transformView));
  app.post<{ Body: Body }>(transforms, { schema: { body: bodySchema } }, async (request, reply) => {
    const t = await table(request);
    const saved = await saveTransform(catalog, t, undefined, await transformFields(request.body, undefined, true));
    return reply.status(201).send(transformView(saved));
  });
  app.get(`${transforms}/:transform`, async (request) => transformView(await transform(request)));
  for (const method of ['PATCH', 'PUT'] as const) {
    app.route<{ Body: Body }>({
      method,
      url: `${transforms}/:transform`,
      schema: { body: bodySchema },
      handler: async (request) => {
        const current = await transform(request);
        return transformView(await saveTransform(catalog, await table(request), current, await transformFields(request.body, current, method === 'PUT')));
      },
    });
  }
  app.delete(`${transforms}/:transform`, async (request, reply) => {
    await deleteTransform(catalog, await transform(request));
    return reply.status(204).send();
  });
}
