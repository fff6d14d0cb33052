import { randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError } from '../errors.js';
import { isoMicros } from '../time.js';
import { compiledOnce } from './compiled.js';
import type { Catalog, CatalogDb } from './db.js';
import { isUniqueViolation } from './errors.js';
import type { Project, TableRow, TransformRow } from './schema.js';

/** Every write here changes what a query's `project.table` resolves to: the catalog counts it (Catalog.changes). */
const changed = <T>(c: Catalog, result: T): T => {
  c.changes.bump();
  return result;
};

async function unique<T>(what: string, name: string, insert: () => Promise<T>): Promise<T> {
  try {
    return await insert();
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConflictError(`${what} named "${name}" already exists: choose another name or update the existing one`);
    throw err;
  }
}

// ---- projects

export async function listProjects(c: Catalog, orgId: string): Promise<Project[]> {
  return c.db.selectFrom('projects').selectAll().where('org_id', '=', orgId).orderBy('created').execute();
}

export async function getProject(c: Catalog, orgId: string, id: string): Promise<Project> {
  const row = await c.db.selectFrom('projects').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError(`project ${id} not found in this org`);
  return row;
}

export async function findProjectByName(c: Catalog, orgId: string, name: string): Promise<Project | undefined> {
  return c.db.selectFrom('projects').selectAll().where('org_id', '=', orgId).where('name', '=', name).executeTakeFirst();
}

export interface NamedFields {
  name: string;
  description: string | null;
  settings: string;
}

export async function createProject(c: Catalog, orgId: string, fields: NamedFields): Promise<Project> {
  const now = isoMicros();
  const row: Project = { id: randomUUID(), org_id: orgId, ...fields, created: now, modified: now };
  return changed(
    c,
    await unique('a project', fields.name, async () => {
      await c.db.insertInto('projects').values(row).execute();
      return row;
    }),
  );
}

export async function updateProject(c: Catalog, project: Project, fields: NamedFields): Promise<Project> {
  const row = { ...project, ...fields, modified: isoMicros() };
  return changed(
    c,
    await unique('a project', fields.name, async () => {
      await c.db.updateTable('projects').set(fields).set({ modified: row.modified }).where('id', '=', project.id).execute();
      return row;
    }),
  );
}

/** A project with tables is not deleted: dropping every table's data by accident is too easy. */
export async function deleteProject(c: Catalog, project: Project): Promise<void> {
  const tables = await c.db.selectFrom('tables').select('name').where('project_id', '=', project.id).execute();
  if (tables.length > 0) {
    throw new ConflictError(`project "${project.name}" still has tables (${tables.map((t) => t.name).join(', ')}): delete them first`);
  }
  await c.db.deleteFrom('projects').where('id', '=', project.id).execute();
  c.changes.bump();
}

// ---- tables

export async function listTables(c: Catalog, project: Project): Promise<TableRow[]> {
  return c.db.selectFrom('tables').selectAll().where('project_id', '=', project.id).orderBy('created').execute();
}

export async function getTable(c: Catalog, project: Project, id: string): Promise<TableRow> {
  const row = await c.db.selectFrom('tables').selectAll().where('project_id', '=', project.id).where('id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError(`table ${id} not found in project "${project.name}"`);
  return row;
}

export async function findTableByName(c: Catalog, orgId: string, projectName: string, tableName: string): Promise<TableRow | undefined> {
  return c.db
    .selectFrom('tables')
    .innerJoin('projects', 'projects.id', 'tables.project_id')
    .selectAll('tables')
    .where('projects.org_id', '=', orgId)
    .where('projects.name', '=', projectName)
    .where('tables.name', '=', tableName)
    .executeTakeFirst();
}

/** A table by name with its default transform (else its first), in one query: the query API asks on every request. */
const tableWithTransform = compiledOnce((db: CatalogDb, orgId: string, projectName: string, tableName: string) =>
  db
    .selectFrom('tables')
    .innerJoin('projects', 'projects.id', 'tables.project_id')
    .leftJoin('transforms', 'transforms.table_id', 'tables.id')
    .selectAll('tables')
    .select(['transforms.id as transform_id', 'transforms.modified as transform_modified', 'transforms.type as transform_type', 'transforms.settings as transform_settings'])
    .where('projects.org_id', '=', orgId)
    .where('projects.name', '=', projectName)
    .where('tables.name', '=', tableName)
    .orderBy('transforms.is_default', 'desc')
    .orderBy('transforms.created')
    .limit(1),
);

/**
 * An org's projects, and its tables each with its default transform (else its first), in two
 * queries: what the query API's system.databases, system.tables and system.columns show.
 */
export async function orgSchema(c: Catalog, orgId: string): Promise<{ projects: Project[]; tables: { project: string; table: TableRow; transform?: Pick<TransformRow, 'id' | 'modified' | 'type' | 'settings'> }[] }> {
  const projects = await listProjects(c, orgId);
  const rows = await c.db
    .selectFrom('tables')
    .innerJoin('projects', 'projects.id', 'tables.project_id')
    .leftJoin('transforms', 'transforms.table_id', 'tables.id')
    .selectAll('tables')
    .select(['projects.name as project_name', 'transforms.id as transform_id', 'transforms.modified as transform_modified', 'transforms.type as transform_type', 'transforms.settings as transform_settings'])
    .where('projects.org_id', '=', orgId)
    .orderBy('projects.name')
    .orderBy('tables.name')
    .orderBy('transforms.is_default', 'desc')
    .orderBy('transforms.created')
    .execute();
  const tables = new Map<string, { project: string; table: TableRow; transform?: Pick<TransformRow, 'id' | 'modified' | 'type' | 'settings'> }>();
  for (const { project_name, transform_id, transform_modified, transform_type, transform_settings, ...table } of rows) {
    if (tables.has(table.id)) continue;
    const transform =
      transform_id !== null && transform_modified !== null && transform_type !== null && transform_settings !== null
        ? { id: transform_id, modified: transform_modified, type: transform_type, settings: transform_settings }
        : undefined;
    tables.set(table.id, { project: project_name, table, ...(transform ? { transform } : {}) });
  }
  return { projects, tables: [...tables.values()] };
}

export async function findTableWithTransform(
  c: Catalog,
  orgId: string,
  projectName: string,
  tableName: string,
): Promise<{ table: TableRow; transform?: Pick<TransformRow, 'id' | 'modified' | 'type' | 'settings'> } | undefined> {
  const [row] = await tableWithTransform(c.db, orgId, projectName, tableName);
  if (!row) return undefined;
  const { transform_id, transform_modified, transform_type, transform_settings, ...table } = row;
  // With its id and version, so the query path can keep it validated (ParsedTransforms) across queries.
  const transform =
    transform_id !== null && transform_modified !== null && transform_type !== null && transform_settings !== null
      ? { id: transform_id, modified: transform_modified, type: transform_type, settings: transform_settings }
      : undefined;
  return { table, transform };
}

export async function createTable(c: Catalog, project: Project, fields: NamedFields): Promise<TableRow> {
  const now = isoMicros();
  const row: TableRow = { id: randomUUID(), org_id: project.org_id, project_id: project.id, ...fields, created: now, modified: now, partition_count: 0, max_partition_span_ms: 0 };
  return changed(
    c,
    await unique('a table', fields.name, async () => {
      await c.db.insertInto('tables').values(row).execute();
      return row;
    }),
  );
}

export async function updateTable(c: Catalog, table: TableRow, fields: NamedFields): Promise<TableRow> {
  const row = { ...table, ...fields, modified: isoMicros() };
  return changed(
    c,
    await unique('a table', fields.name, async () => {
      await c.db.updateTable('tables').set(fields).set({ modified: row.modified }).where('id', '=', table.id).execute();
      return row;
    }),
  );
}

/**
 * Deleting a table drops its data: transforms and partition rows go in one transaction, and the
 * caller removes the partition files afterwards. Refused while a job is still loading into it.
 */
export async function deleteTable(c: Catalog, table: TableRow): Promise<void> {
  const active = await c.db.selectFrom('jobs').select('name').where('table_id', '=', table.id).where('status', 'in', ['ready', 'running']).execute();
  if (active.length > 0) {
    throw new ConflictError(`table "${table.name}" has running jobs (${active.map((j) => j.name).join(', ')}): cancel them or wait for them to finish`);
  }
  await c.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('partitions').where('table_id', '=', table.id).execute();
    await trx.deleteFrom('quarantine').where('table_id', '=', table.id).execute();
    await trx.deleteFrom('transforms').where('table_id', '=', table.id).execute();
    await trx.deleteFrom('tables').where('id', '=', table.id).execute();
  });
  c.changes.bump();
}

// ---- transforms

export async function listTransforms(c: Catalog, table: TableRow): Promise<TransformRow[]> {
  return c.db.selectFrom('transforms').selectAll().where('table_id', '=', table.id).orderBy('created').execute();
}

export async function getTransform(c: Catalog, table: TableRow, id: string): Promise<TransformRow> {
  const row = await c.db.selectFrom('transforms').selectAll().where('table_id', '=', table.id).where('id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError(`transform ${id} not found in table "${table.name}"`);
  return row;
}

export async function findTransform(c: Catalog, table: TableRow, name: string | undefined): Promise<TransformRow | undefined> {
  let query = c.db.selectFrom('transforms').selectAll().where('table_id', '=', table.id);
  query = name === undefined ? query.where('is_default', '=', 1) : query.where('name', '=', name);
  return query.executeTakeFirst();
}

export interface TransformFields extends NamedFields {
  type: string;
  is_default: number;
}

/** One default per table: making a transform the default clears the flag on the others. */
export async function saveTransform(c: Catalog, table: TableRow, existing: TransformRow | undefined, fields: TransformFields): Promise<TransformRow> {
  const now = isoMicros();
  const row: TransformRow = existing ? { ...existing, ...fields, modified: now } : { id: randomUUID(), table_id: table.id, ...fields, created: now, modified: now };
  return changed(
    c,
    await unique('a transform', fields.name, () =>
      c.db.transaction().execute(async (trx) => {
        if (fields.is_default === 1) {
          await trx.updateTable('transforms').set({ is_default: 0 }).where('table_id', '=', table.id).where('id', '!=', row.id).execute();
        }
        if (existing) await trx.updateTable('transforms').set(fields).set({ modified: now }).where('id', '=', row.id).execute();
        else await trx.insertInto('transforms').values(row).execute();
        return row;
      }),
    ),
  );
}

export async function deleteTransform(c: Catalog, transform: TransformRow): Promise<void> {
  const active = await c.db.selectFrom('jobs').select('name').where('transform_id', '=', transform.id).where('status', 'in', ['ready', 'running']).execute();
  if (active.length > 0) {
    throw new ConflictError(`transform "${transform.name}" is used by running jobs (${active.map((j) => j.name).join(', ')}): cancel them or wait for them to finish`);
  }
  await c.db.deleteFrom('transforms').where('id', '=', transform.id).execute();
  c.changes.bump();
}
