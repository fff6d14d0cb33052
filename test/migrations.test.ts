import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql, type Dialect } from 'kysely';
import pg from 'pg';
import { openCatalog } from '../src/catalog/db.js';
import { OneSchemaPostgresDialect } from '../src/catalog/one-schema-dialect.js';
import * as init from '../src/catalog/migrations/0001-init.js';
import * as partitionPlan from '../src/catalog/migrations/0002-task-partition-plan.js';
import * as partitionSchemaKey from '../src/catalog/migrations/0003-partition-schema-key.js';
import { DIALECTS, dropSchema, POSTGRES_URL } from './helpers/catalogs.js';

/** A catalog as the previous release left it (migrations up to 0003), to check what the next one does to its rows. */
const BEFORE_COUNTS = { '0001-init': init, '0002-task-partition-plan': partitionPlan, '0003-partition-schema-key': partitionSchemaKey };

for (const dialect of DIALECTS) {
  test(`${dialect}: upgrading counts the partitions each table already has and finds its widest`, async () => {
    let url: string;
    let oldDialect: Dialect;
    let cleanUp: () => Promise<void>;
    // The old release's migrator, told its schema as openCatalog tells it: another catalog in the database must not matter.
    let migrationTableSchema: string | undefined;
    if (dialect === 'sqlite') {
      const dir = mkdtempSync(path.join(tmpdir(), 'inlet-migrations-'));
      const file = path.join(dir, 'catalog.sqlite');
      url = `sqlite://${file}`;
      oldDialect = new SqliteDialect({ database: new SQLite(file) });
      cleanUp = async () => rmSync(dir, { recursive: true, force: true });
    } else {
      const schema = `inlet_test_${randomBytes(6).toString('hex')}`;
      url = `${POSTGRES_URL}?schema=${schema}`;
      migrationTableSchema = schema;
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      await admin.end();
      oldDialect = new OneSchemaPostgresDialect({ pool: new pg.Pool({ connectionString: POSTGRES_URL, max: 2, options: `-c search_path=${schema}` }) }, schema);
      cleanUp = () => dropSchema(schema);
    }
    try {
      const old = new Kysely<any>({ dialect: oldDialect });
      const { error } = await new Migrator({ db: old, provider: { getMigrations: async () => BEFORE_COUNTS }, migrationTableSchema }).migrateToLatest();
      assert.equal(error, undefined);
      const stamp = { created: 'then', modified: 'then' };
      await old
        .insertInto('orgs')
        .values({ id: 'o', name: 'org', type: 'standard', ...stamp })
        .execute();
      await old
        .insertInto('projects')
        .values({ id: 'p', org_id: 'o', name: 'p', description: null, settings: '{}', ...stamp })
        .execute();
      await old
        .insertInto('tables')
        .values(['full', 'empty'].map((id) => ({ id, org_id: 'o', project_id: 'p', name: id, description: null, settings: '{}', ...stamp })))
        .execute();
      await old
        .insertInto('partitions')
        .values([1, 2, 3].map((i) => ({ id: `${i}`, table_id: 'full', job_id: 'j', task_id: 't', path: `${i}.parquet`, min_ts_ms: i, max_ts_ms: i * i, rows: 1, bytes: 1, created: 'then' })))
        .execute();
      await old.destroy();

      const catalog = await openCatalog(url);
      try {
        // In a transaction: raw SQL finds the catalog's schema there (see openCatalog).
        const rows = await catalog.db
          .transaction()
          .execute((trx) => sql<{ id: string; partition_count: number | string; max_partition_span_ms: number | string }>`SELECT id, partition_count, max_partition_span_ms FROM tables ORDER BY id`.execute(trx));
        // The widest of the spans 0, 2 and 6.
        assert.deepEqual(
          rows.rows.map((r) => [r.id, Number(r.partition_count), Number(r.max_partition_span_ms)]),
          [
            ['empty', 0, 0],
            ['full', 3, 6],
          ],
        );
      } finally {
        await catalog.close();
      }
    } finally {
      await cleanUp();
    }
  });
}

test('postgres: two catalogs in two schemas of one database start side by side, and each keeps its own migrations', async () => {
  const schemas = [0, 1].map(() => `inlet_test_${randomBytes(6).toString('hex')}`);
  try {
    const first = await openCatalog(`${POSTGRES_URL}?schema=${schemas[0]}`);
    // The second starts while the first is open, as a second deployment sharing the database would.
    const second = await openCatalog(`${POSTGRES_URL}?schema=${schemas[1]}`);
    try {
      for (const schema of schemas) {
        const tables = await sql<{ name: string }>`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ${schema} AND table_name LIKE 'kysely_migration%'`.execute(first.db);
        assert.deepEqual(tables.rows.map((r) => r.name).sort(), ['kysely_migration', 'kysely_migration_lock'], `schema ${schema}`);
      }
      await second.db.insertInto('orgs').values({ id: 'o', name: 'only-in-second', type: 'standard', created: 'now', modified: 'now' }).execute();
      assert.equal((await first.db.selectFrom('orgs').select('id').where('name', '=', 'only-in-second').execute()).length, 0);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  } finally {
    await Promise.all(schemas.map(dropSchema));
  }
});

test('postgres: a schema name that would need quoting is refused with the fix', async () => {
  await assert.rejects(openCatalog(`${POSTGRES_URL}?schema=${encodeURIComponent('a"; DROP')}`), /schema="a\\"; DROP" is not a plain PostgreSQL name/);
});
