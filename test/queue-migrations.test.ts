import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Dialect } from 'kysely';
import pg from 'pg';
import { openCatalog } from '../src/catalog/db.js';
import { OneSchemaPostgresDialect } from '../src/catalog/one-schema-dialect.js';
import { jobProgress } from '../src/catalog/jobs.js';
import * as init from '../src/catalog/migrations/0001-init.js';
import * as partitionPlan from '../src/catalog/migrations/0002-task-partition-plan.js';
import * as partitionSchemaKey from '../src/catalog/migrations/0003-partition-schema-key.js';
import * as tablePartitionCount from '../src/catalog/migrations/0004-table-partition-count.js';
import * as tablePartitionSpan from '../src/catalog/migrations/0005-table-partition-span.js';
import { claimTask, reapTasks, renewLease } from '../src/catalog/tasks.js';
import { DIALECTS, dropSchema, POSTGRES_URL } from './helpers/catalogs.js';

/** The catalog as the release before the queue changes left it. */
const BEFORE_QUEUE = {
  '0001-init': init,
  '0002-task-partition-plan': partitionPlan,
  '0003-partition-schema-key': partitionSchemaKey,
  '0004-table-partition-count': tablePartitionCount,
  '0005-table-partition-span': tablePartitionSpan,
};

/** An old catalog (at `url`) to upgrade, and how to remove it. */
async function oldCatalog(dialect: (typeof DIALECTS)[number]): Promise<{ url: string; old: Kysely<any>; schema?: string; cleanUp(): Promise<void> }> {
  let oldDialect: Dialect;
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(path.join(tmpdir(), 'inlet-queue-migrations-'));
    const file = path.join(dir, 'catalog.sqlite');
    oldDialect = new SqliteDialect({ database: new SQLite(file) });
    return { url: `sqlite://${file}`, old: new Kysely<any>({ dialect: oldDialect }), cleanUp: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const schema = `inlet_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  oldDialect = new OneSchemaPostgresDialect({ pool: new pg.Pool({ connectionString: POSTGRES_URL, max: 2, options: `-c search_path=${schema}` }) }, schema);
  return { url: `${POSTGRES_URL}?schema=${schema}`, old: new Kysely<any>({ dialect: oldDialect }), schema, cleanUp: () => dropSchema(schema) };
}

for (const dialect of DIALECTS) {
  test(`${dialect}: upgrading keeps running tasks, which then report their progress with their lease and stay theirs`, async () => {
    const { url, old, schema, cleanUp } = await oldCatalog(dialect);
    try {
      // Told its schema: other tests' catalogs in the same database would otherwise hide its own migration tables.
      const { error } = await new Migrator({ db: old, provider: { getMigrations: async () => BEFORE_QUEUE }, migrationTableSchema: schema }).migrateToLatest();
      assert.equal(error, undefined);
      const stamp = { created: 'then', modified: 'then' };
      await old
        .insertInto('orgs')
        .values({ id: 'o', name: 'org', type: 'standard', ...stamp })
        .execute();
      await old
        .insertInto('jobs')
        .values({
          id: 'j',
          org_id: 'o',
          name: 'j',
          description: null,
          type: 'batch_import',
          settings: '{}',
          status: 'running',
          table_id: 't',
          transform_id: 'x',
          transform_doc: '{}',
          run_id: 'r',
          errors: '[]',
          concurrency: 1,
          listing_done: 1,
          total_bytes: 100,
          started_at_ms: 1,
          finished_at_ms: null,
          ...stamp,
        })
        .execute();
      const task = {
        id: 'a',
        job_id: 'j',
        type: 'INDEX',
        state: 'RUNNING',
        seq: 1,
        bytes: 100,
        input: '[]',
        attempts: 1,
        run_after_ms: 0,
        lease_owner: 'w',
        lease_expires_at_ms: Date.now() + 60_000,
        error: null,
        ...stamp,
      };
      await old.insertInto('tasks').values(task).execute();
      await old.destroy();

      const catalog = await openCatalog(url);
      try {
        const upgraded = await catalog.db.selectFrom('tasks').selectAll().where('id', '=', 'a').executeTakeFirstOrThrow();
        assert.equal(Number(upgraded.progress_bytes), 0);
        assert.equal(Number(upgraded.progress_rows), 0);
        assert.equal(await renewLease(catalog, upgraded, { owner: 'w', durationMs: 60_000 }, { bytesRead: 40, rowsRead: 7 }), true);
        assert.deepEqual((await jobProgress(catalog, 'j')).inFlight, { bytes: 100, bytesRead: 40, rowsRead: 7 });
        // The queue's new indexes serve the old rows: the live lease is neither reaped nor exceeded.
        assert.deepEqual(await reapTasks(catalog), { failed: 0, freed: 0 });
        assert.equal(await claimTask(catalog, { owner: 'x', durationMs: 1000 }), undefined);
      } finally {
        await catalog.close();
      }
    } finally {
      await cleanUp();
    }
  });
}
