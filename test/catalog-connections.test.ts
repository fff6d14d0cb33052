import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import SQLite from 'better-sqlite3';
import { createOrgWithUser } from '../src/catalog/accounts.js';
import { openCatalog } from '../src/catalog/db.js';
import { createJob, jobProgress } from '../src/catalog/jobs.js';
import { claimTask, completeListTask, reapTasks } from '../src/catalog/tasks.js';
import { catalogPoolSize, loadConfig } from '../src/config/config.js';
import { dropSchema, POSTGRES_URL } from './helpers/catalogs.js';

test('postgres: a process holds at most its pool size of connections, however many statements wait', async () => {
  const schema = `inlet_test_${randomBytes(6).toString('hex')}`;
  try {
    const catalog = await openCatalog(`${POSTGRES_URL}?schema=${schema}`, { poolSize: 2 });
    try {
      const pids = await Promise.all(Array.from({ length: 8 }, () => sql<{ pid: number }>`SELECT pg_backend_pid() AS pid, pg_sleep(0.1)`.execute(catalog.db)));
      assert.ok(new Set(pids.map((r) => r.rows[0]!.pid)).size <= 2, 'eight statements at once went through two connections');
    } finally {
      await catalog.close();
    }
  } finally {
    await dropSchema(schema);
  }
  // A worker process's default is small and follows its slots; the API keeps its ten.
  assert.equal(catalogPoolSize(loadConfig({}, { workers: '4' }), 'worker'), 6);
  assert.equal(catalogPoolSize(loadConfig({}, { workers: '4' }), 'api'), 10);
  assert.equal(catalogPoolSize(loadConfig({}, { workers: '4', databasePoolSize: '3' }), 'worker'), 3);
  assert.throws(() => loadConfig({ INLET_DATABASE_POOL_SIZE: '0' }), /INLET_DATABASE_POOL_SIZE="0" is not valid/);
});

test('postgres: a catalog in a schema of its own works without the connection search_path, as behind PgBouncer transaction pooling', async () => {
  const schema = `inlet_test_${randomBytes(6).toString('hex')}`;
  try {
    const catalog = await openCatalog(`${POSTGRES_URL}?schema=${schema}`);
    try {
      // No startup option: PgBouncer in transaction mode would not pass one on.
      const { rows } = await sql<{ search_path: string }>`SHOW search_path`.execute(catalog.db);
      assert.ok(!rows[0]!.search_path.includes(schema), `the connection's own search_path is ${rows[0]!.search_path}`);
      // Every kind of statement the queue runs: builder statements, raw SQL in the claim and the reaper.
      const { org } = await createOrgWithUser(catalog.db, 'org', 'u@x', 'x');
      const { job } = await createJob(catalog, { org_id: org.id, name: 'j', description: null, type: 'batch_import', settings: '{}', table_id: 't', transform_id: 'x', transform_doc: '{}', concurrency: 1 });
      const lease = { owner: 'w', durationMs: 30_000 };
      const list = await claimTask(catalog, lease);
      assert.equal(list?.type, 'LIST');
      await completeListTask(catalog, list!, lease.owner, [{ files: [{ url: 's3://b/k', size: 1 }], bytes: 1 }]);
      assert.equal((await claimTask(catalog, lease))?.type, 'INDEX');
      assert.deepEqual(await reapTasks(catalog), { failed: 0, freed: 0 });
      assert.deepEqual((await jobProgress(catalog, job.id)).tasks, { LIST: { DONE: 1 }, INDEX: { RUNNING: 1 } });
      // The tables are in the catalog's schema, and nowhere else.
      const tables = await catalog.db
        .transaction()
        .execute((trx) => sql<{ schema: string }>`SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = 'tasks' AND table_schema = ${schema}`.execute(trx));
      assert.equal(tables.rows.length, 1);
    } finally {
      await catalog.close();
    }
  } finally {
    await dropSchema(schema);
  }
});

test('postgres: a connection the server ends, idle in the pool or inside a transaction, costs that connection only', async () => {
  const schema = `inlet_test_${randomBytes(6).toString('hex')}`;
  const broken: Error[] = [];
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  const terminate = (pid: number) => admin.query('SELECT pg_terminate_backend($1)', [pid]);
  const settle = () => new Promise((resolve) => setTimeout(resolve, 300));
  try {
    const catalog = await openCatalog(`${POSTGRES_URL}?schema=${schema}`, { poolSize: 2, onConnectionError: (err) => broken.push(err) });
    try {
      const pidOf = async (db: Kysely<any>) => (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(db)).rows[0]!.pid;
      // Idle in the pool: without a listener, the pool's 'error' event would end this process.
      await terminate(await pidOf(catalog.db));
      await settle();
      assert.ok(broken.length >= 1, 'the broken idle connection was reported');
      assert.equal(typeof (await pidOf(catalog.db)), 'number', 'the next statement runs on a new connection');
      // Checked out, between two statements of a transaction: the transaction fails, nothing else.
      broken.length = 0;
      await assert.rejects(
        catalog.db.transaction().execute(async (trx) => {
          await terminate(await pidOf(trx));
          await settle();
          await sql`SELECT 1`.execute(trx);
        }),
      );
      assert.ok(broken.length >= 1, 'the connection broken mid-transaction was reported');
      assert.equal(typeof (await pidOf(catalog.db)), 'number');
    } finally {
      await catalog.close();
    }
  } finally {
    await admin.end();
    await dropSchema(schema);
  }
});

test('postgres: a transaction left idle between statements (its process frozen) loses its connection and its locks', async () => {
  const schema = `inlet_test_${randomBytes(6).toString('hex')}`;
  try {
    const catalog = await openCatalog(`${POSTGRES_URL}?schema=${schema}`, { idleInTransactionMs: 300 });
    try {
      await sql`CREATE TABLE ${sql.id(schema, 'held')} (id int PRIMARY KEY)`.execute(catalog.db);
      await sql`INSERT INTO ${sql.id(schema, 'held')} VALUES (1)`.execute(catalog.db);
      const frozen = catalog.db.transaction().execute(async (trx) => {
        await sql`SELECT id FROM ${sql.id(schema, 'held')} FOR UPDATE`.execute(trx);
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        await sql`SELECT 1`.execute(trx);
      });
      const outcome = frozen.then(
        () => 'committed',
        (err: Error) => err.message,
      );
      // Another transaction takes the same row lock once the server ends the frozen one.
      const started = Date.now();
      await catalog.db.transaction().execute((trx) => sql`SELECT id FROM ${sql.id(schema, 'held')} FOR UPDATE`.execute(trx));
      assert.ok(Date.now() - started < 1_400, `the lock was released after ${Date.now() - started} ms, before the frozen transaction resumed`);
      assert.match(await outcome, /idle-in-transaction|terminat|not queryable/i);
    } finally {
      await catalog.close();
    }
  } finally {
    await dropSchema(schema);
  }
});

test('postgres: a catalog opens while other schemas in the database are created and dropped', async () => {
  // Another test run, or another Inlet's teardown, dropping its schema mid-migration must not matter.
  let stop = false;
  const churn = async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      while (!stop) {
        const other = `inlet_test_${randomBytes(6).toString('hex')}`;
        await client.query(`CREATE SCHEMA ${other}; CREATE TABLE ${other}.t (id serial PRIMARY KEY, name text)`);
        await client.query(`DROP SCHEMA ${other} CASCADE`);
      }
    } finally {
      await client.end();
    }
  };
  const churners = [churn(), churn()];
  try {
    for (let i = 0; i < 12; i++) {
      const schema = `inlet_test_${randomBytes(6).toString('hex')}`;
      try {
        const catalog = await openCatalog(`${POSTGRES_URL}?schema=${schema}`, { poolSize: 2 });
        await catalog.close();
      } finally {
        await dropSchema(schema);
      }
    }
  } finally {
    stop = true;
    await Promise.all(churners);
  }
});

test('sqlite: a transaction that writes after another process committed waits for the lock instead of failing "database is locked"', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'inlet-sqlite-lock-'));
  try {
    const file = path.join(dir, 'catalog.sqlite');
    const catalog = await openCatalog(`sqlite://${file}`);
    // Another process's connection (the worker pool's), which does not wait for locks.
    const other = new SQLite(file);
    try {
      other.exec('CREATE TABLE scratch (x INTEGER)');
      let otherWrote = true;
      await catalog.db.transaction().execute(async (trx) => {
        await sql`SELECT count(*) FROM scratch`.execute(trx);
        try {
          other.prepare('INSERT INTO scratch VALUES (1)').run();
        } catch {
          otherWrote = false;
        }
        await sql`INSERT INTO scratch VALUES (2)`.execute(trx);
      });
      // The transaction held the write lock from its start: the other writer had to wait (here: gave up).
      assert.equal(otherWrote, false);
      assert.deepEqual(other.prepare('SELECT x FROM scratch ORDER BY x').all(), [{ x: 2 }]);
    } finally {
      other.close();
      await catalog.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
