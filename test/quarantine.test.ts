import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createOrgWithUser } from '../src/catalog/accounts.js';
import { createJob } from '../src/catalog/jobs.js';
import { freshCatalog } from './helpers/catalogs.js';
import { csvOf, CSV_TRANSFORM, goTime, logRows, referenceJob } from './helpers/data.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

/** The CSV transform, reading timestamps written as 2024-01-01T00:00:00: the fix of a transform bug. */
const FIXED_TRANSFORM = {
  ...CSV_TRANSFORM,
  name: 'fixed',
  settings: {
    ...CSV_TRANSFORM.settings,
    is_default: false,
    output_columns: CSV_TRANSFORM.settings.output_columns.map((c) =>
      c.name === 'timestamp' ? { ...c, datatype: { ...c.datatype, format: '2006-01-02T15:04:05' } } : c,
    ),
  },
};

const BAD_ROWS = 100_000;
const GOOD_ROWS = 1_000;

/** Rows of the test data with an ISO "T" in the timestamp: the default transform rejects each. */
const isoLines = (count: number, start: number) =>
  logRows(count, start).map((r) => `${goTime(r.time).replace(' ', 'T')},${r.host},${r.status},${r.bytes},${r.latency},${r.cached}`);

let s3: LocalS3;
let inlet: TestInlet;
let dropCatalog: () => Promise<void> = async () => undefined;
const jobs = () => `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`;

before(async () => {
  s3 = await startLocalS3();
  await s3.createBucket('quarantine');
  await s3.createBucket('parts');
  // PostgreSQL catalog and partitions in object storage: quarantine files are uploaded, cached for queries and downloaded for replays.
  const catalog = await freshCatalog('postgres');
  await catalog.catalog.close();
  dropCatalog = catalog.drop;
  inlet = await startInlet({ s3Endpoint: s3.endpoint, databaseUrl: catalog.url, storageUrl: 's3://parts/inlet/' });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM, FIXED_TRANSFORM]);
});
after(async () => {
  await inlet?.stop();
  await s3?.stop();
  await dropCatalog();
});

async function run(name: string, url: string, extra: { transform?: string; settings?: Record<string, unknown> } = {}, status = 'done') {
  const created = await inlet.api.request('POST', jobs(), referenceJob(name, url, extra));
  assert.equal(created.status, 200, created.text);
  const done = await inlet.api.waitForJob(created.body.uuid, undefined, 240_000);
  assert.equal(done.status, status, JSON.stringify(done.details));
  const { read, written, rejected } = done.details.rows;
  assert.equal(read, written + rejected, `rows.read = written + rejected for ${name}`);
  return done;
}

async function scalar(sql: string): Promise<string> {
  const answer = await inlet.api.query(sql);
  assert.equal(answer.status, 200, answer.text);
  return answer.text.trim();
}

describe('reject quarantine', () => {
  let first = '';

  test('every one of 100,000 rejected rows is kept and queryable, and a replay with a corrected transform loads them', async () => {
    const lines = isoLines(BAD_ROWS, Date.UTC(2024, 0, 1));
    // Good rows every 100 lines: each rejected row's line is checked against where it was written.
    const good = csvOf(logRows(GOOD_ROWS, Date.UTC(2023, 0, 1)), false).trimEnd().split('\n');
    const body = ['timestamp,host,status,bytes,latency,cached'];
    lines.forEach((line, i) => {
      if (i % 100 === 0) body.push(good[i / 100]!);
      body.push(line);
    });
    await s3.put('quarantine', 'big/rows.csv', body.join('\n') + '\n');
    const done = await run('iso timestamps', 's3://quarantine/big/');
    first = done.uuid;
    assert.deepEqual(done.details.rows, { read: BAD_ROWS + GOOD_ROWS, written: GOOD_ROWS, rejected: BAD_ROWS });
    assert.deepEqual(done.details.quarantine, { rows: BAD_ROWS, max_rows: 1_000_000, all_kept: true, source: `rejects://${first}` });
    // The Hydrolix shape stays: five samples per file, with the count kept beside them.
    const [file] = done.details.files;
    assert.equal(file.rejects.length, 5);
    assert.equal(file.rows_quarantined, BAD_ROWS);

    assert.equal(await scalar(`SELECT count() FROM "website"."events#rejects" WHERE job_id = '${first}'`), String(BAD_ROWS));
    assert.equal(await scalar('SELECT count(DISTINCT line), min(line), max(line) FROM website.`events#rejects`'), `${BAD_ROWS}\t3\t${BAD_ROWS + GOOD_ROWS + 1}`);
    // Line 3 is the first ISO row (line 1 the header, line 2 a good row); its raw record is the line as written.
    const firstReject = JSON.parse(await scalar(`SELECT file, line, "column", reason, raw, format FROM "website"."events#rejects" ORDER BY line LIMIT 1 FORMAT JSONEachRow`));
    assert.deepEqual(firstReject, {
      file: 's3://quarantine/big/rows.csv',
      line: '3',
      column: 'timestamp',
      reason: `column "timestamp": cannot convert '${lines[0]!.split(',')[0]}' to datetime (format 2006-01-02 15:04:05)`,
      raw: lines[0],
      format: 'csv',
    });
    // Every raw record is the line at its place in the file.
    const written = body.map((line, i) => `${i + 1}\t${line}`);
    const sample = (await scalar(`SELECT line, raw FROM "website"."events#rejects" WHERE line % 997 = 0 ORDER BY line`)).split('\n');
    assert.ok(sample.length > 90);
    for (const row of sample) assert.equal(row, written[Number(row.split('\t')[0]) - 1]);

    const replay = await run('replay', `rejects://${first}`, { transform: 'fixed' });
    assert.deepEqual(replay.details.rows, { read: BAD_ROWS, written: BAD_ROWS, rejected: 0 });
    assert.equal(await scalar('SELECT count() FROM website.events'), String(BAD_ROWS + GOOD_ROWS));
    assert.equal(await scalar(`SELECT count() FROM website.events WHERE timestamp >= '2024-01-01'`), String(BAD_ROWS));
  });

  test('a file whose every row is rejected leaves only its quarantine, which undo takes back', async () => {
    await s3.put('quarantine', 'all-bad/rows.csv', ['timestamp,host,status,bytes,latency,cached', ...isoLines(300, Date.UTC(2022, 0, 1))].join('\n') + '\n');
    // It fails (it did none of its work), and what it rejected is kept all the same.
    const done = await run('all rejected', 's3://quarantine/all-bad/', {}, 'failed');
    assert.deepEqual(done.details.rows, { read: 300, written: 0, rejected: 300 });
    assert.equal(done.details.partitions.count, 0);
    assert.equal(await scalar(`SELECT count(), min(line), max(line) FROM "website"."events#rejects" WHERE job_id = '${done.uuid}'`), '300\t2\t301');

    const undone = await inlet.api.request('POST', `${jobs()}/${done.uuid}/undo`);
    assert.equal(undone.status, 200, undone.text);
    assert.equal(await scalar(`SELECT count() FROM "website"."events#rejects" WHERE job_id = '${done.uuid}'`), '0');
    assert.equal(await scalar(`SELECT count() FROM "website"."events#rejects"`), String(BAD_ROWS), "the other job's quarantine stays");
    // Nothing to replay once undone.
    const replay = await run('replay of an undone job', `rejects://${done.uuid}`, { transform: 'fixed' });
    assert.deepEqual(replay.details.rows, { read: 0, written: 0, rejected: 0 });
  });

  test('max_quarantined_rows bounds what is kept: the rest is counted, and status says so', async () => {
    await s3.put('quarantine', 'bounded/rows.csv', ['timestamp,host,status,bytes,latency,cached', ...isoLines(50, Date.UTC(2021, 0, 1))].join('\n') + '\n');
    const done = await run('bounded', 's3://quarantine/bounded/', { settings: { max_quarantined_rows: 10 } }, 'failed');
    assert.deepEqual(done.details.rows, { read: 50, written: 0, rejected: 50 });
    assert.deepEqual(done.details.quarantine, { rows: 10, max_rows: 10, all_kept: false, source: `rejects://${done.uuid}` });
    const files = await inlet.api.request('GET', `${jobs()}/${done.uuid}/files`);
    assert.equal(files.body[0].rows_quarantined, 10);
    assert.equal(files.body[0].rows_rejected, 50);
    // The first ten by line.
    assert.equal(await scalar(`SELECT count(), min(line), max(line) FROM "website"."events#rejects" WHERE job_id = '${done.uuid}'`), '10\t2\t11');
  });

  test('a replay reads only a job of its own org: any other is not found', async () => {
    const { org } = await createOrgWithUser(inlet.service.catalog.db, 'other org', 'someone@other.example', 'a long enough password');
    const { job } = await createJob(inlet.service.catalog, {
      org_id: org.id,
      name: 'theirs',
      description: null,
      type: 'batch_import',
      settings: '{}',
      table_id: 't',
      transform_id: 'x',
      transform_doc: '{}',
      concurrency: 1,
    });
    for (const id of [job.id, randomUUID()]) {
      const refused = await inlet.api.request('POST', jobs(), referenceJob('theirs', `rejects://${id}`, { transform: 'fixed' }));
      assert.equal(refused.status, 404, refused.text);
      assert.match(refused.body.detail, new RegExp(`batch job ${id} not found in this org`));
    }
    const malformed = await inlet.api.request('POST', jobs(), referenceJob('bad url', 'rejects://not-a-uuid'));
    assert.equal(malformed.status, 400, malformed.text);
    assert.match(malformed.body.detail, /rejects:\/\/\{job uuid\}/);
  });
});
