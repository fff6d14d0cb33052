import assert from 'node:assert/strict';
import { ParsedTransforms, PARSED_TRANSFORMS_KEPT } from '../src/catalog/parsed.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createOrg } from '../src/catalog/accounts.js';
import { openCatalog, type Catalog } from '../src/catalog/db.js';
import { createProject, createTable, deleteProject, deleteTable, deleteTransform, findTableWithTransform, getProject, listTables, saveTransform, updateProject, updateTable } from '../src/catalog/resources.js';
import { loadConfig } from '../src/config/config.js';
import { QueryPlanner } from '../src/query/plan.js';
import { PartitionStorage } from '../src/storage/storage.js';
import { CSV_TRANSFORM } from './helpers/data.js';
import { DIALECTS, freshCatalog } from './helpers/catalogs.js';

const named = (name: string, settings: object = {}) => ({ name, description: null, settings: JSON.stringify(settings) });
/** The CSV transform with its primary timestamp column named `primary`. */
const transformFields = (primary: string) => ({
  ...named('t'),
  type: 'csv',
  is_default: 1,
  settings: JSON.stringify({
    ...CSV_TRANSFORM.settings,
    output_columns: CSV_TRANSFORM.settings.output_columns.map((c) => (c.name === 'timestamp' ? { ...c, name: primary } : c)),
  }),
});

for (const dialect of DIALECTS) {
  describe(`query plans and the catalog's change counter (${dialect})`, () => {
    let catalog: Catalog;
    let url: string;
    let drop: () => Promise<void>;
    let dataDir: string;
    let planner: QueryPlanner;
    let orgId: string;

    before(async () => {
      ({ catalog, url, drop } = await freshCatalog(dialect));
      dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-plans-'));
      planner = new QueryPlanner(catalog, new PartitionStorage(loadConfig({}, { dataDir }), catalog), new ParsedTransforms(PARSED_TRANSFORMS_KEPT));
      orgId = (await createOrg(catalog.db, 'plans')).id;
    });
    after(async () => {
      await planner?.close();
      await catalog?.close();
      await drop?.();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    test('every write to projects, tables and transforms counts, and no read does', async () => {
      const counted = async <T>(write: () => Promise<T>): Promise<T> => {
        const before = catalog.changes.value;
        const result = await write();
        assert.equal(catalog.changes.value, before + 1, String(write));
        return result;
      };
      const project = await counted(() => createProject(catalog, orgId, named('counted')));
      await counted(() => updateProject(catalog, project, named('counted', { x: 1 })));
      const table = await counted(() => createTable(catalog, project, named('t')));
      await counted(() => updateTable(catalog, table, named('t', { x: 1 })));
      const transform = await counted(() => saveTransform(catalog, table, undefined, transformFields('timestamp')));
      const before = catalog.changes.value;
      await getProject(catalog, orgId, project.id);
      await listTables(catalog, project);
      await findTableWithTransform(catalog, orgId, 'counted', 't');
      assert.equal(catalog.changes.value, before, 'reads do not count');
      await counted(() => deleteTransform(catalog, transform));
      await counted(() => deleteTable(catalog, table));
      await counted(() => deleteProject(catalog, project));
    });

    test('a plan is kept for the same text, org and count; a write counted since makes it anew', async () => {
      const project = await createProject(catalog, orgId, named('website'));
      const table = await createTable(catalog, project, named('events'));
      const transform = await saveTransform(catalog, table, undefined, transformFields('timestamp'));
      const sql = "SELECT count() FROM website.events WHERE timestamp >= '2024-01-01'";
      const first = await planner.plan(orgId, sql, catalog.changes.value);
      assert.equal(await planner.plan(orgId, sql, catalog.changes.value), first);
      assert.equal(first.tables[0]!.transform?.primary, 'timestamp');
      assert.equal(first.bounds.all.length, 1);
      // Another primary column: the bounds on `timestamp` no longer prune anything.
      await saveTransform(catalog, table, transform, transformFields('ts'));
      const second = await planner.plan(orgId, sql, catalog.changes.value);
      assert.notEqual(second, first);
      assert.equal(second.tables[0]!.transform?.primary, 'ts');
      assert.equal(second.bounds.all.length, 0);
    });

    test("another org's plan of the same text is its own: the table is not found there", async () => {
      const other = await createOrg(catalog.db, 'other');
      await assert.rejects(planner.plan(other.id, 'SELECT count() FROM website.events', catalog.changes.value), /Table website.events doesn't exist \(UNKNOWN_TABLE\)/);
    });

    test('a refused statement is not kept: the table created next is found', async () => {
      const sql = 'SELECT count() FROM later.events';
      await assert.rejects(planner.plan(orgId, sql, catalog.changes.value), /UNKNOWN_TABLE/);
      // Written through another catalog object, as another API process would: this one's count does not move.
      const elsewhere = await openCatalog(url);
      try {
        const project = await createProject(elsewhere, orgId, named('later'));
        await createTable(elsewhere, project, named('events'));
      } finally {
        await elsewhere.close();
      }
      const plan = await planner.plan(orgId, sql, catalog.changes.value);
      assert.equal(plan.tables[0]!.ref.project, 'later');
    });
  });
}
