import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createOrgWithUser } from '../src/catalog/accounts.js';
import { openCatalog, type Catalog } from '../src/catalog/db.js';
import { createJob } from '../src/catalog/jobs.js';
import { prunedPartitions } from '../src/catalog/partitions.js';
import { createProject, createTable, findTableWithTransform, saveTransform } from '../src/catalog/resources.js';
import type { TaskRow } from '../src/catalog/schema.js';
import { cancelJobTasks, claimTask, completeIndexTask, completeListTask, MAX_TASK_ATTEMPTS, reapTasks, renewLease } from '../src/catalog/tasks.js';
import { LeaseLostError } from '../src/errors.js';
import { DIALECTS, freshCatalog } from './helpers/catalogs.js';

for (const dialect of DIALECTS) {
  describe(`${dialect} catalog`, () => {
    let catalog: Catalog;
    let url: string;
    let drop: () => Promise<void>;
    let orgId: string;
    let tableId: string;
    let jobSeq = 0;

    before(async () => {
      ({ catalog, url, drop } = await freshCatalog(dialect));
      const { org } = await createOrgWithUser(catalog.db, 'org', `u@${dialect}`, 'x');
      orgId = org.id;
      const project = await createProject(catalog, orgId, { name: 'p', description: null, settings: '{}' });
      tableId = (await createTable(catalog, project, { name: 't', description: null, settings: '{}' })).id;
    });
    after(async () => {
      await catalog.close();
      await drop();
    });

    /** A job whose listing is committed with `tasks` INDEX tasks, `concurrency` of which may run at once. */
    /** A new job, its LIST task not yet run. */
    async function newJob(concurrency: number) {
      const { job } = await createJob(catalog, { org_id: orgId, name: `job ${++jobSeq}`, description: null, type: 'batch_import', settings: '{}', table_id: tableId, transform_id: 'x', transform_doc: '{}', concurrency });
      return job;
    }

    async function listedJob(tasks: number, concurrency: number) {
      const job = await newJob(concurrency);
      const lease = { owner: 'lister', durationMs: 60_000 };
      const list = await claimTask(catalog, lease);
      assert.equal(list?.type, 'LIST');
      const planned = Array.from({ length: tasks }, (_, i) => ({ files: [{ url: `s3://b/${i}`, size: 10 }], bytes: 10 }));
      await completeListTask(catalog, list!, lease.owner, planned);
      return job;
    }

    test('a query finds its table by name in its org only, and the partitions of a time range with the count it considered', async () => {
      assert.equal((await findTableWithTransform(catalog, orgId, 'p', 't'))?.table.id, tableId);
      // The lookup's SQL is compiled once: other values must still bind, not reuse the first ones.
      assert.equal(await findTableWithTransform(catalog, orgId, 'p', 'other'), undefined);
      assert.equal(await findTableWithTransform(catalog, 'another org', 'p', 't'), undefined);

      // Partitions arrive the way workers commit them, with INDEX tasks, which keep the table's count.
      // (This test runs first, so the tasks claimed are its own job's.)
      const project = await createProject(catalog, orgId, { name: 'pruning', description: null, settings: '{}' });
      const table = (await createTable(catalog, project, { name: 'hours', description: null, settings: '{}' })).id;
      const hour = 3_600_000;
      await createJob(catalog, { org_id: orgId, name: 'hours', description: null, type: 'batch_import', settings: '{}', table_id: table, transform_id: 'x', transform_doc: '{}', concurrency: 1 });
      const lease = { owner: 'indexer', durationMs: 60_000 };
      const list = await claimTask(catalog, lease);
      await completeListTask(
        catalog,
        list!,
        lease.owner,
        [0, 1, 2].map((i) => ({ files: [{ url: `s3://b/${i}`, size: 1 }], bytes: 1 })),
      );
      const commit = async (spans: [number, number][]) => {
        const index = await claimTask(catalog, lease);
        const partitions = spans.map(([from, to]) => ({ table_id: table, path: `${dialect}/${from}.parquet`, min_ts_ms: from * hour, max_ts_ms: to * hour - 1, rows: 10, bytes: 100, schema_key: 'k' }));
        await completeIndexTask(catalog, index!, lease.owner, partitions, []);
      };
      await commit([
        [0, 1],
        [1, 2],
      ]);
      await commit([
        [2, 3],
        [3, 4],
      ]);
      const hoursOf = async (range: { fromMs?: number; toMs?: number }) => {
        const { considered, partitions } = await prunedPartitions(catalog, table, range);
        return { considered, hours: partitions.map((p) => p.min_ts_ms / hour) };
      };
      assert.deepEqual(await hoursOf({}), { considered: 4, hours: [0, 1, 2, 3] });
      assert.deepEqual(await hoursOf({ fromMs: hour, toMs: 2 * hour }), { considered: 4, hours: [1, 2] });
      assert.deepEqual(await hoursOf({ fromMs: 3 * hour }), { considered: 4, hours: [3] });
      assert.deepEqual(await hoursOf({ toMs: hour - 1 }), { considered: 4, hours: [0] });
      assert.deepEqual(await hoursOf({ fromMs: 9 * hour }), { considered: 4, hours: [] });
      // One partition of six hours: a range near its end must still find it, though it starts long before.
      await commit([[4, 10]]);
      assert.deepEqual(await hoursOf({ fromMs: 9 * hour, toMs: 9 * hour }), { considered: 5, hours: [4] });
      assert.deepEqual(await hoursOf({ fromMs: 3 * hour }), { considered: 5, hours: [3, 4] });
      assert.deepEqual(await hoursOf({ fromMs: 10 * hour }), { considered: 5, hours: [] });
      assert.deepEqual(await prunedPartitions(catalog, tableId, {}), { considered: 0, partitions: [] });
    });

    test('every task is claimed exactly once by many concurrent workers', async () => {
      const job = await listedJob(40, 100);
      const claimed: TaskRow[] = [];
      await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (;;) {
            const task = await claimTask(catalog, { owner: `w${w}`, durationMs: 60_000 });
            if (!task) return;
            claimed.push(task);
          }
        }),
      );
      const ids = claimed.filter((t) => t.job_id === job.id).map((t) => t.id);
      assert.equal(ids.length, 40);
      assert.equal(new Set(ids).size, 40);
    });

    test('input_concurrency bounds the INDEX tasks of one job running at once', async () => {
      const job = await listedJob(5, 2);
      const first = await claimTask(catalog, { owner: 'a', durationMs: 60_000 });
      const second = await claimTask(catalog, { owner: 'b', durationMs: 60_000 });
      const third = await claimTask(catalog, { owner: 'c', durationMs: 60_000 });
      assert.equal(first?.job_id, job.id);
      assert.equal(second?.job_id, job.id);
      assert.equal(third, undefined);
      await completeIndexTask(catalog, first!, 'a', [], []);
      const fourth = await claimTask(catalog, { owner: 'c', durationMs: 60_000 });
      assert.equal(fourth?.job_id, job.id);
      await cancelJobTasks(catalog, job.id);
    });

    test('a worker whose lease expired and was taken over cannot commit: nothing of its work appears', async () => {
      const job = await listedJob(1, 1);
      const stale = await claimTask(catalog, { owner: 'slow', durationMs: 60_000 });
      assert.equal(stale?.job_id, job.id);
      // The slow worker goes silent: its lease runs out, and the reaper makes the task READY.
      await catalog.db
        .updateTable('tasks')
        .set({ lease_expires_at_ms: Date.now() - 1000 })
        .where('id', '=', stale!.id)
        .execute();
      assert.equal(await claimTask(catalog, { owner: 'fresh', durationMs: 60_000 }), undefined, 'a claim does not take expired leases itself');
      assert.deepEqual(await reapTasks(catalog), { failed: 0, freed: 1 });
      const taken = await claimTask(catalog, { owner: 'fresh', durationMs: 60_000 });
      assert.equal(taken?.id, stale!.id);
      assert.equal(taken?.attempts, 2);
      assert.equal(await renewLease(catalog, stale!, { owner: 'slow', durationMs: 60_000 }), false);
      const partition = { table_id: tableId, path: `${job.id}/stale.parquet`, min_ts_ms: 0, max_ts_ms: 1, rows: 5, bytes: 10 };
      await assert.rejects(completeIndexTask(catalog, stale!, 'slow', [partition], []), LeaseLostError);
      const orphan = await catalog.db.selectFrom('partitions').select('id').where('job_id', '=', job.id).execute();
      assert.equal(orphan.length, 0);
      await completeIndexTask(catalog, taken!, 'fresh', [{ ...partition, path: `${job.id}/fresh.parquet` }], []);
      const committed = await catalog.db.selectFrom('partitions').select('path').where('job_id', '=', job.id).execute();
      assert.deepEqual(committed, [{ path: `${job.id}/fresh.parquet` }]);
      const final = await catalog.db.selectFrom('jobs').select('status').where('id', '=', job.id).executeTakeFirstOrThrow();
      assert.equal(final.status, 'done');
    });

    test('canceling a job takes the lease from its running tasks', async () => {
      const job = await listedJob(2, 1);
      const running = await claimTask(catalog, { owner: 'w', durationMs: 60_000 });
      assert.equal(running?.job_id, job.id);
      assert.equal(await cancelJobTasks(catalog, job.id), true);
      assert.equal(await renewLease(catalog, running!, { owner: 'w', durationMs: 60_000 }), false);
      assert.equal(await claimTask(catalog, { owner: 'w2', durationMs: 60_000 }), undefined);
      assert.equal(await cancelJobTasks(catalog, job.id), false);
    });

    test('the reaper fails a task whose workers keep dying, and frees other expired leases, by the catalog clock', async () => {
      const job = await listedJob(2, 2);
      const doomed = await claimTask(catalog, { owner: 'w', durationMs: 60_000 });
      const expired = await claimTask(catalog, { owner: 'w', durationMs: 60_000 });
      assert.equal(doomed?.job_id, job.id);
      assert.equal(expired?.job_id, job.id);
      await catalog.db.updateTable('tasks').set({ attempts: MAX_TASK_ATTEMPTS }).where('id', '=', doomed!.id).execute();
      await catalog.db
        .updateTable('tasks')
        .set({ lease_expires_at_ms: Date.now() - 1000 })
        .where('job_id', '=', job.id)
        .where('state', '=', 'RUNNING')
        .execute();
      assert.deepEqual(await reapTasks(catalog), { failed: 1, freed: 1 });
      const states = await catalog.db.selectFrom('tasks').select(['id', 'state', 'error']).where('job_id', '=', job.id).where('type', '=', 'INDEX').execute();
      assert.equal(states.find((t) => t.id === doomed!.id)?.state, 'FAILED');
      assert.match(states.find((t) => t.id === doomed!.id)?.error ?? '', /worker lost the task 3 times/);
      assert.equal(states.find((t) => t.id === expired!.id)?.state, 'READY');
      const jobRow = await catalog.db.selectFrom('jobs').select('errors').where('id', '=', job.id).executeTakeFirstOrThrow();
      assert.match(jobRow.errors, /worker lost the task 3 times/);
      // A lease renewed a moment ago is live: the reaper leaves it.
      const retaken = await claimTask(catalog, { owner: 'w2', durationMs: 60_000 });
      assert.equal(retaken?.id, expired!.id);
      assert.deepEqual(await reapTasks(catalog), { failed: 0, freed: 0 });
      await cancelJobTasks(catalog, job.id);
    });

    test('a job whose listing the reaper fails ends failed (no listing will finish it)', async () => {
      const job = await newJob(1);
      const list = await claimTask(catalog, { owner: 'lister', durationMs: 60_000 });
      assert.equal(list?.type, 'LIST');
      await catalog.db
        .updateTable('tasks')
        .set({ attempts: MAX_TASK_ATTEMPTS, lease_expires_at_ms: Date.now() - 1000 })
        .where('id', '=', list!.id)
        .execute();
      assert.deepEqual(await reapTasks(catalog), { failed: 1, freed: 0 });
      const jobRow = await catalog.db.selectFrom('jobs').select(['status', 'errors']).where('id', '=', job.id).executeTakeFirstOrThrow();
      assert.equal(jobRow.status, 'failed');
      assert.match(jobRow.errors, /LIST task .*worker lost the task 3 times/);
    });

    if (dialect === 'postgres') {
      test('one reaper at a time: while another process holds the reaper lock, a reaper skips its turn', async () => {
        const other = await openCatalog(url);
        // Named, not current_schema(): outside a transaction a catalog's connection has no search_path of its own (PgBouncer).
        const schema = new URL(url).searchParams.get('schema');
        try {
          await other.db.connection().execute(async (conn) => {
            await sql`SELECT pg_advisory_lock(${0x1e7e7}, hashtext(${schema}))`.execute(conn);
            try {
              assert.equal(await reapTasks(catalog), undefined);
            } finally {
              await sql`SELECT pg_advisory_unlock(${0x1e7e7}, hashtext(${schema}))`.execute(conn);
            }
          });
          assert.deepEqual(await reapTasks(catalog), { failed: 0, freed: 0 });
        } finally {
          await other.close();
        }
      });

      test('many concurrent claimers in several processes take every task exactly once, and input_concurrency is never exceeded', async () => {
        const TASKS = 60;
        const CONCURRENCY = 3;
        const job = await listedJob(TASKS, CONCURRENCY);
        // Three catalogs are three connection pools, as three worker processes would have.
        const catalogs = [catalog, await openCatalog(url), await openCatalog(url)];
        const claimed: string[] = [];
        let running = 0;
        let most = 0;
        try {
          await Promise.all(
            Array.from({ length: 24 }, async (_, w) => {
              const mine = catalogs[w % catalogs.length]!;
              const owner = `w${w}`;
              while (claimed.length < TASKS) {
                const task = await claimTask(mine, { owner, durationMs: 60_000 });
                if (!task) {
                  await delay(2);
                  continue;
                }
                assert.equal(task.job_id, job.id);
                claimed.push(task.id);
                // Counted after the claim commits and until just before the commit of the task:
                // never more than the catalog has RUNNING at that moment.
                most = Math.max(most, ++running);
                await delay(10 + Math.random() * 20);
                running--;
                await completeIndexTask(mine, task, owner, [], []);
              }
            }),
          );
        } finally {
          await Promise.all(catalogs.slice(1).map((c) => c.close()));
        }
        assert.equal(claimed.length, TASKS);
        assert.equal(new Set(claimed).size, TASKS);
        assert.ok(most <= CONCURRENCY, `${most} INDEX tasks of a job with input_concurrency ${CONCURRENCY} ran at once`);
        assert.ok(most >= 2, 'the claimers did overlap');
        const final = await catalog.db.selectFrom('jobs').select('status').where('id', '=', job.id).executeTakeFirstOrThrow();
        assert.equal(final.status, 'done');
      });
    }

    test("a query's table lookup names its default transform's id and version, so it can be kept validated between queries", async () => {
      const project = await createProject(catalog, orgId, { name: 'versions', description: null, settings: '{}' });
      const table = await createTable(catalog, project, { name: 'v', description: null, settings: '{}' });
      assert.equal((await findTableWithTransform(catalog, orgId, 'versions', 'v'))?.transform, undefined);
      const saved = await saveTransform(catalog, table, undefined, { name: 'x', description: null, type: 'csv', is_default: 1, settings: '{"a":1}' });
      assert.deepEqual((await findTableWithTransform(catalog, orgId, 'versions', 'v'))?.transform, { id: saved.id, modified: saved.modified, type: 'csv', settings: '{"a":1}' });
      const edited = await saveTransform(catalog, table, saved, { name: 'x', description: null, type: 'csv', is_default: 1, settings: '{"a":2}' });
      assert.equal((await findTableWithTransform(catalog, orgId, 'versions', 'v'))?.transform?.modified, edited.modified);
    });
  });
}
