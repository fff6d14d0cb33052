import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { createOrgWithUser } from '../src/catalog/accounts.js';
import { createJob, getJob, retryJob, undoJob } from '../src/catalog/jobs.js';
import { alreadyLoaded } from '../src/catalog/ledger.js';
import { claimTask, completeIndexTask, completeListTask, MAX_TASK_ATTEMPTS, reapTasks } from '../src/catalog/tasks.js';
import { AlreadyLoadedError, ConflictError } from '../src/errors.js';
import { DIALECTS, freshCatalog } from './helpers/catalogs.js';
import { csvOf, CSV_TRANSFORM, gzip, logRows, referenceJob } from './helpers/data.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

let s3: LocalS3;
let inlet: TestInlet;

before(async () => {
  s3 = await startLocalS3();
  inlet = await startInlet({ s3Endpoint: s3.endpoint });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
  await s3.createBucket('reruns');
});
after(async () => {
  await inlet?.stop();
  await s3?.stop();
});

const jobs = () => `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`;

async function start(name: string, url: string, settings: Record<string, unknown> = {}): Promise<string> {
  const created = await inlet.api.request('POST', jobs(), referenceJob(name, url, { settings }));
  assert.equal(created.status, 200, created.text);
  return created.body.uuid;
}

async function count(where = '1 = 1'): Promise<number> {
  const answer = await inlet.api.query(`SELECT count() FROM website.events WHERE ${where}`);
  assert.equal(answer.status, 200, answer.text);
  return Number(answer.text.trim());
}

/** Four files of 100 rows each, in days of their own, the third a gzip cut short. */
const DAYS = [1, 2, 3, 4].map((d) => Date.UTC(2021, 0, d));
const fileRows = (i: number) => csvOf(logRows(100, DAYS[i]!));
/** The job that loaded `four/` whole (after its retry): the ledger tests run the prefix again. */
let fourLoadedBy = '';
/** The job that loaded `four/` a second time, with force: undo takes it back. */
let forcedFour = '';
const FOUR_DAYS = `timestamp >= '2021-01-01' AND timestamp < '2021-01-05'`;

describe('retry', () => {
  test('a job failed by a corrupt gzip loads the replaced object on retry, and only that one', async () => {
    for (const i of [0, 1, 3]) await s3.put('reruns', `four/part-${i}.csv.gz`, gzip(fileRows(i)));
    const good = gzip(fileRows(2));
    await s3.put('reruns', 'four/part-2.csv.gz', good.subarray(0, good.length - 20));
    const id = await start('four files', 's3://reruns/four/', { input_aggregation: 1 });
    const failed = await inlet.api.waitForJob(id);
    assert.equal(failed.status, 'failed', JSON.stringify(failed.details));
    assert.deepEqual(failed.details.status_detail.tasks.INDEX, { DONE: 3, FAILED: 1 });
    assert.equal(await count(`timestamp >= '2021-01-01' AND timestamp < '2021-01-05'`), 300);

    await s3.put('reruns', 'four/part-2.csv.gz', good);
    const retried = await inlet.api.request('POST', `${jobs()}/${id}/retry`);
    assert.equal(retried.status, 200, retried.text);
    assert.equal(retried.body.status, 'running');
    assert.deepEqual(retried.body.details.errors, []);
    const done = await inlet.api.waitForJob(id);
    assert.equal(done.status, 'done', JSON.stringify(done.details));
    assert.deepEqual(done.details.status_detail.tasks.INDEX, { DONE: 4 });
    assert.deepEqual(done.details.rows, { read: 400, written: 400, rejected: 0 });
    assert.equal(await count(`timestamp >= '2021-01-01' AND timestamp < '2021-01-05'`), 400);
    const files = await inlet.api.request('GET', `${jobs()}/${id}/files`);
    assert.equal(files.body.length, 4);
    assert.ok(
      files.body.every((f: { error: string | null }) => f.error === null),
      files.text,
    );

    const again = await inlet.api.request('POST', `${jobs()}/${id}/retry`);
    assert.equal(again.status, 409, again.text);
    assert.match(again.body.detail, /is done: none of its tasks failed, so there is nothing to retry/);
    fourLoadedBy = id;
  });

  test('retry of an unknown job is a 404', async () => {
    const answer = await inlet.api.request('POST', `${jobs()}/00000000-0000-0000-0000-000000000000/retry`);
    assert.equal(answer.status, 404, answer.text);
  });
});

for (const dialect of DIALECTS) {
  test(`${dialect}: of two jobs that listed one object before either loaded it, the second commit of it fails and commits nothing, unless it forces`, async () => {
    const { catalog, drop } = await freshCatalog(dialect);
    try {
      const { org } = await createOrgWithUser(catalog.db, 'org', 'u@x', 'x');
      const object = { url: 's3://b/k.csv', size: 10, version: 'ETag 1' };
      const lease = { owner: 'w', durationMs: 60_000 };
      const indexTask = async (name: string) => {
        const { job } = await createJob(catalog, { org_id: org.id, name, description: null, type: 'batch_import', settings: '{}', table_id: 't', transform_id: 'x', transform_doc: '{}', concurrency: 1 });
        await completeListTask(catalog, (await claimTask(catalog, lease))!, lease.owner, [{ files: [object], bytes: 10 }]);
        return { job, task: (await claimTask(catalog, lease))! };
      };
      const first = await indexTask('first');
      const second = await indexTask('second');
      const third = await indexTask('third, forced');
      const partition = (n: number) => [{ table_id: 't', path: `t/${n}/p.parquet`, min_ts_ms: 0, max_ts_ms: 1, rows: 5, bytes: 1, schema_key: 'k' }];
      const file = { url: object.url, bytes: 10, version: object.version, rows_read: 5, rows_written: 5, rows_rejected: 0, rejects: '[]', error: null };
      await completeIndexTask(catalog, first.task, lease.owner, partition(1), [file], undefined, { ledger: { tableId: 't', force: false } });
      await assert.rejects(
        completeIndexTask(catalog, second.task, lease.owner, partition(2), [file], undefined, { ledger: { tableId: 't', force: false } }),
        (err: unknown) => err instanceof AlreadyLoadedError && err.message.startsWith(`s3://b/k.csv was loaded into this table by job ${first.job.id} while this job ran`),
      );
      await completeIndexTask(catalog, third.task, lease.owner, partition(3), [file], undefined, { ledger: { tableId: 't', force: true } });
      const jobsWithPartitions = await catalog.db.selectFrom('partitions').select('job_id').orderBy('path').execute();
      assert.deepEqual(
        jobsWithPartitions.map((p) => p.job_id),
        [first.job.id, third.job.id],
      );
      assert.deepEqual((await alreadyLoaded(catalog.db, 't', [object])).get(object.url), first.job.id);
      assert.deepEqual((await alreadyLoaded(catalog.db, 't', [{ ...object, version: 'ETag 2' }])).size, 0, 'a new version is not loaded');
      assert.deepEqual((await alreadyLoaded(catalog.db, 't', [{ ...object, size: 11 }])).size, 0, 'nor is another size');
    } finally {
      await catalog.close();
      await drop();
    }
  });

  test(`${dialect}: a retried task has its own ${MAX_TASK_ATTEMPTS} lost attempts, numbered on from the ones before, and its object's version is forgotten`, async () => {
    const { catalog, drop } = await freshCatalog(dialect);
    try {
      const { org } = await createOrgWithUser(catalog.db, 'org', 'u@x', 'x');
      const { job } = await createJob(catalog, { org_id: org.id, name: 'lost', description: null, type: 'batch_import', settings: '{}', table_id: 't', transform_id: 'x', transform_doc: '{}', concurrency: 1 });
      const lease = { owner: 'w', durationMs: 60_000 };
      const list = await claimTask(catalog, lease);
      await completeListTask(catalog, list!, lease.owner, [{ files: [{ url: 's3://b/k', size: 1, version: 'ETag 1' }], bytes: 1 }]);
      const lose = (id: string) => catalog.db.updateTable('tasks').set({ lease_expires_at_ms: 0 }).where('id', '=', id).execute();
      for (let i = 0; i < MAX_TASK_ATTEMPTS; i++) {
        await lose((await claimTask(catalog, lease))!.id);
        await reapTasks(catalog);
      }
      assert.equal((await getJob(catalog, org.id, job.id)).status, 'failed');
      assert.equal(await retryJob(catalog, await getJob(catalog, org.id, job.id)), 1);
      const again = await claimTask(catalog, lease);
      assert.equal(again!.attempts, MAX_TASK_ATTEMPTS + 1, 'a new number: its files and its commit are its own');
      assert.deepEqual(JSON.parse(again!.input), [{ url: 's3://b/k', size: 1 }]);
      await lose(again!.id);
      assert.deepEqual(await reapTasks(catalog), { failed: 0, freed: 1 }, 'the lost attempts before the retry do not count');
    } finally {
      await catalog.close();
      await drop();
    }
  });

  test(`${dialect}: a job that has not ended cannot be retried or undone, and the refusals change nothing`, async () => {
    const { catalog, drop } = await freshCatalog(dialect);
    try {
      const { org } = await createOrgWithUser(catalog.db, 'org', 'u@x', 'x');
      const { job } = await createJob(catalog, { org_id: org.id, name: 'waiting', description: null, type: 'batch_import', settings: '{}', table_id: 't', transform_id: 'x', transform_doc: '{}', concurrency: 1 });
      await assert.rejects(retryJob(catalog, job), (err: unknown) => err instanceof ConflictError && /is ready: only a failed or canceled job can be retried/.test(err.message));
      await assert.rejects(undoJob(catalog, job), (err: unknown) => err instanceof ConflictError && /is ready: only a finished job can be undone; cancel it first/.test(err.message));
      const after = await getJob(catalog, org.id, job.id);
      assert.equal(after.status, 'ready');
      assert.equal(after.undone, null);
    } finally {
      await catalog.close();
      await drop();
    }
  });
}

/** 100 rows on the given day, every tenth one's status not a number: 10 % rejected. */
function tenPercentBad(day: number): string {
  return csvOf(logRows(100, day))
    .split('\n')
    .map((line, i) => (i > 0 && i % 10 === 0 ? line.replace(/,(200|404|500),/, ',bad,') : line))
    .join('\n');
}

describe('error budgets', () => {
  test('a file with 10 % bad rows under max_rejected_ratio 0.01 fails its task, names the file, the count and the budget, and commits nothing', async () => {
    const day = Date.UTC(2021, 1, 1);
    await s3.put('reruns', 'ratio/bad.csv', tenPercentBad(day));
    const id = await start('ten percent bad', 's3://reruns/ratio/', { max_rejected_ratio: 0.01 });
    const done = await inlet.api.waitForJob(id);
    assert.equal(done.status, 'failed', JSON.stringify(done.details));
    assert.equal(done.settings.max_rejected_ratio, 0.01);
    assert.match(done.details.errors[0], /^INDEX task failed: s3:\/\/reruns\/ratio\/bad\.csv: 10 of its 100 rows were rejected, .*10 of 100 read \(10 %\), over settings\.max_rejected_ratio \(0\.01\)/);
    assert.deepEqual(done.details.rows, { read: 0, written: 0, rejected: 0 });
    assert.equal(done.details.partitions.count, 0);
    assert.equal(await count(`timestamp >= '2021-02-01' AND timestamp < '2021-02-02'`), 0);
    const [file] = (await inlet.api.request('GET', `${jobs()}/${id}/files`)).body;
    assert.match(file.error, /over settings\.max_rejected_ratio/);

    // Without a budget (the default) the same file loads, as it always did.
    const loose = await inlet.api.waitForJob(await start('ten percent bad, no budget', 's3://reruns/ratio/'));
    assert.equal(loose.status, 'done', JSON.stringify(loose.details));
    assert.equal('max_rejected_ratio' in loose.settings, false, 'a bound not given is not echoed');
    assert.deepEqual(loose.details.rows, { read: 100, written: 90, rejected: 10 });
  });

  test('max_rejected_rows_per_file and max_rejected_rows bound the count, and a count within them loads', async () => {
    await s3.put('reruns', 'count/a.csv', tenPercentBad(Date.UTC(2021, 2, 1)));
    await s3.put('reruns', 'count/b.csv', tenPercentBad(Date.UTC(2021, 2, 2)));
    const perFile = await inlet.api.waitForJob(await start('per file 9', 's3://reruns/count/', { max_rejected_rows_per_file: 9, input_aggregation: 1 }));
    assert.equal(perFile.status, 'failed');
    assert.deepEqual(perFile.details.status_detail.tasks.INDEX, { FAILED: 2 });
    assert.match(perFile.details.errors[0], /a\.csv: 10 of its 100 rows were rejected, over settings\.max_rejected_rows_per_file \(9\)/);
    // One slot's worth at a time: the second file's rejects take the job to 20, over 15.
    const job = await inlet.api.waitForJob(await start('job 15', 's3://reruns/count/', { max_rejected_rows: 15, input_aggregation: 1 }));
    assert.equal(job.status, 'failed');
    assert.deepEqual(job.details.status_detail.tasks.INDEX, { DONE: 1, FAILED: 1 });
    assert.match(job.details.errors[0], /brings the job's rejected rows to 20, over settings\.max_rejected_rows \(15\)/);
    assert.deepEqual(job.details.rows, { read: 100, written: 90, rejected: 10 });
    const within = await inlet.api.waitForJob(await start('within', 's3://reruns/count/', { max_rejected_rows: 20, max_rejected_rows_per_file: 10, max_rejected_ratio: 0.1 }));
    assert.equal(within.status, 'done', JSON.stringify(within.details));
  });

  test('a budget that is not a count or a fraction is a 400 naming it', async () => {
    for (const [settings, message] of [
      [{ max_rejected_ratio: 1.5 }, /settings\.max_rejected_ratio is 1\.5: use a fraction from 0 to 1/],
      [{ max_rejected_rows: -1 }, /settings\.max_rejected_rows is -1: use a whole number >= 0/],
      [{ max_rejected_rows_per_fil: 1 }, /did you mean "max_rejected_rows_per_file"/],
    ] as const) {
      const answer = await inlet.api.request('POST', jobs(), referenceJob('bad budget', 's3://reruns/count/', { settings }));
      assert.equal(answer.status, 400, answer.text);
      assert.match(answer.body.detail, message);
    }
  });

  test('a job whose every row was rejected ends failed, whatever the budget', async () => {
    await s3.put('reruns', 'allbad/x.csv', 'timestamp,host,status,bytes,latency,cached\nnot a time,a,1,1,1,true\nnor this,b,2,2,2,false\n');
    const done = await inlet.api.waitForJob(await start('all rejected', 's3://reruns/allbad/'));
    assert.equal(done.status, 'failed', JSON.stringify(done.details));
    assert.deepEqual(done.details.rows, { read: 2, written: 0, rejected: 2 });
    assert.match(done.details.errors.at(-1), /every row the job read was rejected/);
  });
});

describe('ledger', () => {
  test('two jobs over one prefix at once load each object once between them', async () => {
    const day = Date.UTC(2021, 4, 1);
    for (let i = 0; i < 3; i++) await s3.put('reruns', `twice/${i}.csv`, csvOf(logRows(1000, day, 1, i * 1000)));
    const ids = await Promise.all(['twice 1', 'twice 2'].map((name) => start(name, 's3://reruns/twice/', { input_aggregation: 1 })));
    const ended = await Promise.all(ids.map((id) => inlet.api.waitForJob(id)));
    assert.equal(await count(`timestamp >= '2021-05-01' AND timestamp < '2021-05-02'`), 3000);
    assert.equal(ended[0].details.rows.written + ended[1].details.rows.written, 3000, JSON.stringify(ended.map((j) => j.details)));
    // Each object was either skipped at the listing or, when both jobs listed it first, refused at the second commit.
    for (const job of ended) {
      for (const error of job.details.errors) assert.match(error, /was loaded into this table by job .* while this job ran/);
    }
  });

  test('the same prefix again loads nothing and reports four skipped files with the job that loaded them; a dry run reports the same', async () => {
    assert.ok(fourLoadedBy, 'runs after the retry test, which loads four/');
    for (const dry of [true, false]) {
      const id = await start(`four again${dry ? ', dry' : ''}`, 's3://reruns/four/', { dry_run: dry });
      const done = await inlet.api.waitForJob(id);
      assert.equal(done.status, 'done', JSON.stringify(done.details));
      assert.equal(done.details.skipped.files, 4);
      assert.ok(done.details.skipped.bytes > 0);
      assert.match(done.details.skipped.reason, /already loaded into this table/);
      assert.deepEqual(done.details.rows, { read: 0, written: 0, rejected: 0 });
      assert.equal(done.details.bytes_read, 0);
      assert.equal(done.details.status_detail.tasks.INDEX, undefined);
      const files = (await inlet.api.request('GET', `${jobs()}/${id}/files`)).body;
      assert.equal(files.length, 4);
      for (const file of files) assert.deepEqual(file.skipped, { reason: 'already loaded into this table', loaded_by_job: fourLoadedBy }, JSON.stringify(file));
    }
    assert.equal(await count(FOUR_DAYS), 400);
  });

  test('force: true loads them again', async () => {
    const forced = await inlet.api.waitForJob(await start('four forced', 's3://reruns/four/', { force: true }));
    assert.equal(forced.status, 'done', JSON.stringify(forced.details));
    assert.equal(forced.settings.force, true);
    assert.equal(forced.details.skipped.files, 0);
    assert.deepEqual(forced.details.rows, { read: 400, written: 400, rejected: 0 });
    assert.equal(await count(FOUR_DAYS), 800);
    forcedFour = forced.uuid;
  });

  test('an object rewritten under the same key (a new ETag) is loaded again; the others are skipped', async () => {
    const day = Date.UTC(2021, 3, 1);
    await s3.put('reruns', 'rewrite/a.csv', csvOf(logRows(10, day)));
    await s3.put('reruns', 'rewrite/b.csv', csvOf(logRows(10, day, 1, 10)));
    assert.equal((await inlet.api.waitForJob(await start('rewrite 1', 's3://reruns/rewrite/'))).status, 'done');
    await s3.put('reruns', 'rewrite/a.csv', csvOf(logRows(10, day, 1, 100)));
    const second = await inlet.api.waitForJob(await start('rewrite 2', 's3://reruns/rewrite/'));
    assert.equal(second.status, 'done', JSON.stringify(second.details));
    assert.equal(second.details.skipped.files, 1);
    assert.deepEqual(second.details.rows, { read: 10, written: 10, rejected: 0 });
    assert.equal(await count(`timestamp >= '2021-04-01' AND timestamp < '2021-04-02'`), 30);
  });
});

describe('undo', () => {
  test('undo of the forced job brings the count back exactly, while queries running at that moment see the table before or after', async () => {
    assert.ok(forcedFour, 'runs after the ledger tests, which load four/ a second time with force');
    const { db } = inlet.service.catalog;
    const parts = await db.selectFrom('partitions').select(['path', 'rows']).where('job_id', '=', forcedFour).execute();
    assert.equal(
      parts.reduce((sum, p) => sum + Number(p.rows), 0),
      400,
    );
    let undoing = true;
    const answers: string[] = [];
    const queries = [0, 1, 2].map(async () => {
      while (undoing) {
        const answer = await inlet.api.query(`SELECT count(), sum(bytes) FROM website.events WHERE ${FOUR_DAYS}`);
        answers.push(answer.status === 200 ? answer.text : `${answer.status} ${answer.text}`);
      }
    });
    await delay(200);
    const undone = await inlet.api.request('POST', `${jobs()}/${forcedFour}/undo`);
    await delay(200);
    undoing = false;
    await Promise.all(queries);
    assert.equal(undone.status, 200, undone.text);
    assert.deepEqual({ ...undone.body.details.undone, at: undefined }, { at: undefined, partitions: parts.length, rows: 400 });
    assert.equal(undone.body.status, 'done', 'the record stays as it ended');
    const bytesOf = async () => (await inlet.api.query(`SELECT sum(bytes) FROM website.events WHERE ${FOUR_DAYS}`)).text.trim();
    const after = `400\t${await bytesOf()}\n`;
    const before = `800\t${2 * Number(after.split('\t')[1])}\n`;
    assert.ok(answers.length > 2, `queries ran during the undo: ${answers.length}`);
    for (const answer of answers) assert.ok(answer === before || answer === after, `a query saw ${JSON.stringify(answer)}, neither the table before (${before}) nor after (${after})`);
    assert.ok(answers.includes(before) && answers.at(-1) === after, JSON.stringify(answers));

    for (const action of ['undo', 'retry']) {
      const again = await inlet.api.request('POST', `${jobs()}/${forcedFour}/${action}`);
      assert.equal(again.status, 409, again.text);
      assert.match(again.body.detail, /undone/);
    }
    // Its ledger entries went with it, the first load's stayed: the prefix is still skipped whole.
    const rerun = await inlet.api.waitForJob(await start('four after undo', 's3://reruns/four/'));
    assert.equal(rerun.details.skipped.files, 4, JSON.stringify(rerun.details));
    assert.equal(await count(FOUR_DAYS), 400);

    // The files stay for queries that began before the undo; the sweeper removes them after its grace period.
    const files = parts.map((p) => path.join(inlet.dataDir, 'partitions', ...p.path.split('/')));
    assert.ok(files.every((file) => existsSync(file)));
    await inlet.stop({ keepData: true });
    inlet = await startInlet({ s3Endpoint: s3.endpoint, sweepGraceSeconds: '0' }, inlet.dataDir);
    // The API is up before its worker process has started (and swept): give the sweep its moment.
    for (let i = 0; i < 300 && files.some((file) => existsSync(file)); i++) await delay(100);
    assert.ok(
      files.every((file) => !existsSync(file)),
      'the sweeper at start removed the undone files',
    );
    assert.equal((await inlet.service.catalog.db.selectFrom('partitions').select('id').where('job_id', '=', forcedFour).execute()).length, 0);
    assert.equal(await count(FOUR_DAYS), 400);
  });
});
