// npx tsx bench/claim.ts [--quick]: how long claiming a task takes on PostgreSQL with 200, 20,000
// and 1,000,000 READY tasks (INLET_BENCH_POSTGRES_URL, default the tests' database), against the
// claim query it replaced. Runs in a schema of its own, dropped at the end.
import { randomBytes } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';
import pg from 'pg';
import { createOrgWithUser } from '../src/catalog/accounts.js';
import { openCatalog, type Catalog } from '../src/catalog/db.js';
import { createJob } from '../src/catalog/jobs.js';
import { claimTask, nextJobWithWork, releaseTask } from '../src/catalog/tasks.js';
import { median, percentile } from './lib/measure.js';

const POSTGRES_URL = process.env.INLET_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const quick = process.argv.includes('--quick');
const SIZES = quick ? [200, 20_000] : [200, 20_000, 1_000_000];
const CLAIMS = quick ? 30 : 200;
/** Other active jobs, each at its input_concurrency: every claim must look past them. */
const FULL_JOBS = 5;

/** The claim's candidate query before the queue changes: a count per READY row, then a sort. */
const previousClaim = (now: number) => sql<{ id: string }>`
  SELECT t.id FROM tasks t INNER JOIN jobs j ON j.id = t.job_id
  WHERE j.status IN ('ready', 'running')
    AND ((t.state = 'READY' AND t.run_after_ms <= ${now}) OR (t.state = 'RUNNING' AND t.lease_expires_at_ms < ${now} AND t.attempts < 3))
    AND (t.type = 'LIST' OR (SELECT count(*) FROM tasks r WHERE r.job_id = t.job_id AND r.type = 'INDEX' AND r.state = 'RUNNING' AND r.lease_expires_at_ms >= ${now}) < j.concurrency)
  ORDER BY CASE WHEN t.type = 'LIST' THEN 0 ELSE 1 END, j.created, t.seq
  LIMIT 1 FOR UPDATE OF t SKIP LOCKED`;

/** Raw SQL finds the catalog's tables inside a transaction, as it would through PgBouncer (see openCatalog). */
function inTransaction<R>(catalog: Catalog, query: RawBuilder<R>) {
  return catalog.db.transaction().execute((trx) => query.execute(trx));
}

async function newJob(catalog: Catalog, orgId: string, name: string, concurrency: number): Promise<string> {
  const { job } = await createJob(catalog, { org_id: orgId, name, description: null, type: 'batch_import', settings: '{}', table_id: 't', transform_id: 'x', transform_doc: '{}', concurrency });
  // Listed: its LIST task is done.
  await catalog.db.updateTable('tasks').set({ state: 'DONE' }).where('job_id', '=', job.id).execute();
  await catalog.db.updateTable('jobs').set({ status: 'running', listing_done: 1 }).where('id', '=', job.id).execute();
  return job.id;
}

/** `count` tasks of a job in one statement, `state` RUNNING ones leased for an hour. */
async function addTasks(catalog: Catalog, jobId: string, count: number, state: 'READY' | 'RUNNING'): Promise<void> {
  const lease = state === 'RUNNING' ? sql`(extract(epoch from now()) * 1000)::bigint + 3600000` : sql`NULL`;
  await inTransaction(
    catalog,
    sql`
    INSERT INTO tasks (id, job_id, type, state, seq, bytes, input, attempts, run_after_ms, lease_owner, lease_expires_at_ms, error, created, modified)
    SELECT md5(${jobId} || g::text), ${jobId}, 'INDEX', ${state}, g, 1000, '[]', ${state === 'RUNNING' ? 1 : 0}, 0, ${state === 'RUNNING' ? 'other' : null}, ${lease}, NULL, 'now', 'now'
    FROM generate_series(1, ${count}) AS g`,
  );
}

const ms = (values: readonly number[]) => `median ${median(values).toFixed(2)} ms, p90 ${percentile(values, 90).toFixed(2)} ms, max ${Math.max(...values).toFixed(2)} ms`;

const schema = `inlet_bench_claim_${randomBytes(4).toString('hex')}`;
const catalog = await openCatalog(`${POSTGRES_URL}?schema=${schema}`);
try {
  const { org } = await createOrgWithUser(catalog.db, 'bench', 'bench@localhost', 'x');
  for (let j = 0; j < FULL_JOBS; j++) {
    const full = await newJob(catalog, org.id, `full ${j}`, 1);
    await addTasks(catalog, full, 1, 'RUNNING');
  }
  const lease = { owner: 'bench', durationMs: 60_000 };
  for (const size of SIZES) {
    await catalog.db
      .deleteFrom('tasks')
      .where('job_id', 'in', (eb) => eb.selectFrom('jobs').select('id').where('name', 'like', 'ready %'))
      .execute();
    await catalog.db.deleteFrom('jobs').where('name', 'like', 'ready %').execute();
    const jobId = await newJob(catalog, org.id, `ready ${size}`, 1_000_000);
    await addTasks(catalog, jobId, size, 'READY');
    await inTransaction(catalog, sql`ANALYZE tasks`);
    await inTransaction(catalog, sql`ANALYZE jobs`);

    const claims: number[] = [];
    for (let i = 0; i < CLAIMS; i++) {
      const start = performance.now();
      const task = await claimTask(catalog, lease);
      claims.push(performance.now() - start);
      if (task?.job_id !== jobId) throw new Error(`claim ${i} took ${task ? `a task of job ${task.job_id}` : 'nothing'}`);
      // Handed back, so every claim sees the same number of READY tasks.
      await releaseTask(catalog, task, lease.owner);
    }

    // PostgreSQL's own time for choosing the job (what the previous query's time was spent on).
    const choosing: number[] = [];
    for (let i = 0; i < 20; i++) {
      const { rows } = await inTransaction(catalog, sql<{ 'QUERY PLAN': string }>`EXPLAIN ANALYZE SELECT ${nextJobWithWork('postgres')} AS job_id`);
      choosing.push(Number(/Execution Time: ([\d.]+) ms/.exec(rows.map((r) => r['QUERY PLAN']).join('\n'))?.[1]));
    }
    // The claim's round trips with a one-row write and nothing else: what any claim costs on
    // this machine at this load.
    const floor: number[] = [];
    for (let i = 0; i < CLAIMS; i++) {
      const start = performance.now();
      await catalog.db.transaction().execute(async (trx) => {
        await sql`SET LOCAL synchronous_commit TO off`.execute(trx);
        await sql`SELECT 1`.execute(trx);
        await sql`UPDATE jobs SET modified = modified WHERE id = ${jobId}`.execute(trx);
      });
      floor.push(performance.now() - start);
    }

    // The previous query, with the index it was written for, rolled back each time.
    await inTransaction(catalog, sql`CREATE INDEX tasks_claim ON tasks (state, run_after_ms)`);
    const previous: number[] = [];
    const runs = size >= 1_000_000 ? 3 : quick ? 5 : 20;
    const client = new pg.Client({ connectionString: POSTGRES_URL, options: `-c search_path=${schema}` });
    await client.connect();
    try {
      const compiled = previousClaim(Date.now()).compile(catalog.db);
      for (let i = 0; i < runs; i++) {
        await client.query('BEGIN');
        const start = performance.now();
        await client.query(compiled.sql, [...compiled.parameters]);
        previous.push(performance.now() - start);
        await client.query('ROLLBACK');
      }
    } finally {
      await client.end();
      await inTransaction(catalog, sql`DROP INDEX tasks_claim`);
    }
    console.log(
      `${size} READY tasks: claimTask ${ms(claims)} over ${CLAIMS} | the same round trips writing one row ${ms(floor)} | choosing the job, PostgreSQL execution ${ms(choosing)} | previous candidate query ${ms(previous)} over ${runs}`,
    );
  }
} finally {
  await catalog.close();
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
}
