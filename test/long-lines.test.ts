import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DEFAULT_MAX_LINE_BYTES } from '../src/ingest/long-lines.js';
import { CSV_TRANSFORM, JSON_TRANSFORM, referenceJob } from './helpers/data.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

/** A small limit for most tests, so their files stay small; one block runs at the real default. */
const SMALL_LIMIT = 1000;
const HEADER = 'timestamp,host,status,bytes,latency,cached';
const row = (second: number, host = 'a.example.com') => `2024-01-01 00:00:${String(second).padStart(2, '0')},${host},200,1,0.5,true`;
const json = (second: number, host = 'a.example.com') => JSON.stringify({ ts: Date.UTC(2024, 0, 1, 0, 0, second), host, status: 200, bytes: 1, latency: 0.5, cached: true });

let s3: LocalS3;
let root: string;
before(async () => {
  s3 = await startLocalS3();
  await s3.createBucket('long');
  root = mkdtempSync(path.join(tmpdir(), 'inlet-long-lines-'));
});
after(async () => {
  await s3?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

interface FileDetail {
  url: string;
  rows_read: number;
  rows_written: number;
  rows_rejected: number;
  rejects: { line: number; column: string | null; reason: string }[];
  error: string | null;
}

/** One Inlet for a describe block, with website.events fed by the CSV (default) and NDJSON transforms. */
function inletWith(settings: Record<string, string>): () => TestInlet {
  let inlet: TestInlet;
  before(async () => {
    inlet = await startInlet({ s3Endpoint: s3.endpoint, fileRoots: root, ...settings });
    await createWebsiteEvents(inlet.api, [CSV_TRANSFORM, JSON_TRANSFORM]);
  });
  after(async () => inlet?.stop());
  return () => inlet;
}

/** Runs a job over the URL and returns the files with rejects (the job's details list those only). */
async function load(inlet: TestInlet, url: string, transform?: string): Promise<FileDetail[]> {
  return (await run(inlet, url, transform)).files;
}

async function run(inlet: TestInlet, url: string, transform?: string): Promise<{ rows: object; files: FileDetail[] }> {
  const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob(`long lines ${url}`, url, { transform }));
  assert.equal(created.status, 200, created.text);
  const done = await inlet.api.waitForJob(created.body.uuid, undefined, 180_000);
  // A job whose every row was rejected ends failed; these jobs load nothing else.
  const allRejected = done.details.rows.read > 0 && done.details.rows.written === 0;
  assert.equal(done.status, allRejected ? 'failed' : 'done', JSON.stringify(done.details));
  return { rows: done.details.rows, files: [...done.details.files].sort((a: FileDetail, b: FileDetail) => (a.url < b.url ? -1 : 1)) };
}

const counts = (f: FileDetail) => ({ read: f.rows_read, written: f.rows_written, rejected: f.rows_rejected });

describe(`at the default limit (${DEFAULT_MAX_LINE_BYTES} bytes)`, () => {
  const inlet = inletWith({});

  test('a 34 MB line between two good lines is rejected with the limit, plain and gzip, over S3 and file://', async () => {
    const text = `${HEADER}\n${row(1)}\n${row(2, 'x'.repeat(34 * 1024 * 1024))}\n${row(3)}\n`;
    await s3.put('long', 'default/big.csv', text);
    await s3.put('long', 'default/big.csv.gz', gzipSync(text));
    mkdirSync(path.join(root, 'default'));
    writeFileSync(path.join(root, 'default', 'big.csv'), text);
    const files = [...(await load(inlet(), 's3://long/default/')), ...(await load(inlet(), `file://${root}/default/`))];
    assert.equal(files.length, 3);
    for (const file of files) {
      assert.deepEqual(counts(file), { read: 3, written: 2, rejected: 1 }, file.url);
      assert.equal(file.rejects.length, 1, file.url);
      assert.equal(file.rejects[0]!.line, 3, file.url);
      assert.match(file.rejects[0]!.reason, new RegExp(`^line longer than ${DEFAULT_MAX_LINE_BYTES} bytes \\(it has ${34 * 1024 * 1024 + row(2, '').length}\\)`), file.url);
    }
    const hosts = await inlet().api.query(`SELECT host, count() FROM website.events GROUP BY host ORDER BY host`);
    assert.equal(hosts.text, 'a.example.com\t6\n');
  });

  test('a 40 MB file with no newline is one rejected record, not 0 read, gzip over S3 and plain over file://', async () => {
    const blob = Buffer.alloc(40 * 1024 * 1024, 'z');
    await s3.put('long', 'blob/blob.csv.gz', gzipSync(blob));
    mkdirSync(path.join(root, 'blob'));
    writeFileSync(path.join(root, 'blob', 'blob.csv'), blob);
    const files = [...(await load(inlet(), 's3://long/blob/')), ...(await load(inlet(), `file://${root}/blob/`))];
    assert.equal(files.length, 2);
    for (const file of files) {
      assert.deepEqual(counts(file), { read: 1, written: 0, rejected: 1 }, file.url);
      assert.deepEqual(
        file.rejects.map((r) => r.line),
        [1],
        file.url,
      );
      assert.match(file.rejects[0]!.reason, new RegExp(`^line longer than ${DEFAULT_MAX_LINE_BYTES} bytes \\(it has ${blob.length}\\)`), file.url);
    }
  });

  test('a 5 MB line, under the limit, loads whole', async () => {
    const host = 'y'.repeat(5 * 1024 * 1024);
    await s3.put('long', 'five/five.csv.gz', gzipSync(`${HEADER}\n${row(1)}\n${row(2, host)}\n${row(3)}\n`));
    const done = await run(inlet(), 's3://long/five/');
    assert.deepEqual(done, { rows: { read: 3, written: 3, rejected: 0 }, files: [] });
    const stored = await inlet().api.query(`SELECT length(host) FROM website.events WHERE host LIKE 'yyy%'`);
    assert.equal(stored.text, `${host.length}\n`);
  });
});

describe(`with INLET_MAX_LINE_BYTES=${SMALL_LIMIT}`, () => {
  const inlet = inletWith({ maxLineBytes: String(SMALL_LIMIT) });

  test('a file with no newline at all is one rejected record, not 0 read, plain and gzip', async () => {
    const blob = 'z'.repeat(200 * SMALL_LIMIT);
    await s3.put('long', 'nonl/blob.csv', blob);
    await s3.put('long', 'nonl/blob.csv.gz', gzipSync(blob));
    const files = await load(inlet(), 's3://long/nonl/');
    assert.equal(files.length, 2);
    for (const file of files) {
      assert.deepEqual(counts(file), { read: 1, written: 0, rejected: 1 }, file.url);
      assert.match(file.rejects[0]!.reason, new RegExp(`^line longer than ${SMALL_LIMIT} bytes \\(it has ${blob.length}\\)`), file.url);
      assert.equal(file.rejects[0]!.line, 1);
    }
  });

  test('long CSV lines are rejected by number, the lines after them keep their numbers, and a line of exactly the limit loads', async () => {
    const exact = row(4, 'e'.repeat(SMALL_LIMIT - row(4, '').length));
    assert.equal(Buffer.byteLength(exact), SMALL_LIMIT);
    const lines = [HEADER, row(1), row(2, 'x'.repeat(5 * SMALL_LIMIT)), row(3), exact, row(5, 'y'.repeat(SMALL_LIMIT)), 'not,a,row', row(7), ''];
    for (const [name, eol] of [
      ['lf', '\n'],
      ['crlf', '\r\n'],
    ] as const) {
      await s3.put('long', `csv/${name}.csv`, lines.join(eol));
      await s3.put('long', `csv/${name}.csv.gz`, gzipSync(lines.join(eol)));
    }
    const files = await load(inlet(), 's3://long/csv/');
    assert.equal(files.length, 4);
    for (const file of files) {
      const crlf = file.url.includes('crlf');
      // With CRLF the exact line is one byte (its \r) over the limit.
      assert.deepEqual(counts(file), { read: 7, written: crlf ? 3 : 4, rejected: crlf ? 4 : 3 }, file.url);
      const expected = crlf ? [3, 5, 6, 7] : [3, 6, 7];
      assert.deepEqual(
        file.rejects.map((r) => r.line),
        expected,
        file.url,
      );
      assert.match(file.rejects[0]!.reason, /^line longer than 1000 bytes \(it has 5\d\d\d\)/, file.url);
      assert.match(file.rejects.at(-1)!.reason, /MISSING COLUMNS|cannot convert/, file.url);
    }
  });

  test('a quoted CSV record over the limit, though each of its lines is under it, gets DuckDB\'s reason, not "null: null"', async () => {
    const multiline = `2024-01-01 00:00:02,"${Array.from({ length: 8 }, () => 'q'.repeat(SMALL_LIMIT / 2)).join('\n')}",200,1,0.5,true`;
    await s3.put('long', 'quoted/q.csv', [HEADER, row(1), multiline, row(3), ''].join('\n'));
    const [file] = await load(inlet(), 's3://long/quoted/');
    assert.deepEqual(counts(file!), { read: 3, written: 2, rejected: 1 });
    assert.match(file!.rejects[0]!.reason, /^LINE SIZE OVER MAXIMUM: record longer than 1000 bytes \(it has \d+\): the longest line Inlet reads is INLET_MAX_LINE_BYTES$/);
    assert.doesNotMatch(file!.rejects[0]!.reason, /null/);
  });

  test('NDJSON: a long line is rejected by number, plain and gzip', async () => {
    const lines = [json(1), json(2, 'x'.repeat(3 * SMALL_LIMIT)), '{"ts": not json', json(4), ''];
    await s3.put('long', 'ndjson/a.json', lines.join('\n'));
    await s3.put('long', 'ndjson/a.json.gz', gzipSync(lines.join('\n')));
    const files = await load(inlet(), 's3://long/ndjson/', 'ndjson');
    assert.equal(files.length, 2);
    for (const file of files) {
      assert.deepEqual(counts(file), { read: 4, written: 2, rejected: 2 }, file.url);
      assert.deepEqual(
        file.rejects.map((r) => r.line),
        [2, 3],
        file.url,
      );
      assert.match(file.rejects[0]!.reason, /^line longer than 1000 bytes/);
      assert.match(file.rejects[1]!.reason, /not valid JSON/);
    }
  });
});

describe('JSON arrays and concatenated documents, which are not read by line', () => {
  const inlet = inletWith({});

  test('a record too large for DuckDB fails its task at once with the limit and the fix, not after retries', async () => {
    const big = JSON.stringify({ ts: Date.UTC(2024, 0, 1), host: 'x'.repeat(40 * 1024 * 1024) });
    await s3.put('long', 'array/a.json.gz', gzipSync(`[${json(1)},${big},${json(3)}]`));
    const created = await inlet().api.request('POST', `/config/v1/orgs/${inlet().api.orgId}/jobs/batch`, referenceJob('big record', 's3://long/array/', { transform: 'ndjson' }));
    const done = await inlet().api.waitForJob(created.body.uuid, undefined, 180_000);
    assert.equal(done.status, 'failed', JSON.stringify(done.details));
    assert.deepEqual(done.details.status_detail.tasks.INDEX, { FAILED: 1 });
    assert.match(done.details.errors[0], /a JSON record of more than \d+ bytes is too large to read in one piece \(INLET_MAX_LINE_BYTES is 8388608\): raise INLET_MAX_LINE_BYTES/);
  });
});
