import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { FileSource } from '../src/sources/file-source.js';
import { csvOf, CSV_TRANSFORM, JSON_TRANSFORM, logRows, ndjsonOf, referenceJob } from './helpers/data.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';

const root = mkdtempSync(path.join(tmpdir(), 'inlet-file-root-'));
let inlet: TestInlet;
before(async () => {
  inlet = await startInlet({ fileRoots: root });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM, JSON_TRANSFORM]);
});
after(async () => {
  await inlet?.stop();
  rmSync(root, { recursive: true, force: true });
});

const run = async (name: string, url: string, transform?: string) => {
  const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob(name, url, transform ? { transform } : {}));
  assert.equal(created.status, 200, created.text);
  return inlet.api.waitForJob(created.body.uuid);
};

test('file:// objects load in place when plain, through scratch when compressed or named like a glob, and stay where they were', async () => {
  const dir = path.join(root, 'logs');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'a.csv'), csvOf(logRows(30, Date.UTC(2024, 2, 1))));
  writeFileSync(path.join(dir, 'b[1]*.csv'), csvOf(logRows(20, Date.UTC(2024, 2, 2))));
  writeFileSync(path.join(dir, 'c.csv.gz'), gzipSync(csvOf(logRows(10, Date.UTC(2024, 2, 3)))));
  const done = await run('local files', `file://${dir}/`);
  assert.equal(done.status, 'done', JSON.stringify(done.details));
  assert.deepEqual(done.details.rows, { read: 60, written: 60, rejected: 0 });
  assert.deepEqual(readdirSync(dir).sort(), ['a.csv', 'b[1]*.csv', 'c.csv.gz'], 'the sources are untouched');
  assert.equal((await inlet.api.query("SELECT count() FROM website.events WHERE timestamp >= '2024-03-02' AND timestamp < '2024-03-03'")).text, '20\n');
  const scratch = path.join(inlet.dataDir, 'scratch');
  assert.deepEqual(existsSync(scratch) ? readdirSync(scratch, { recursive: true }).filter((f) => String(f).includes('input-')) : [], [], 'no downloaded copy left');
});

test('a plain-named file whose bytes are compressed is refused with its name, read in place or not', async () => {
  const dir = path.join(root, 'mislabelled');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'really-gzip.csv'), gzipSync(csvOf(logRows(5))));
  const failed = await run('mislabelled', `file://${dir}/`);
  assert.equal(failed.status, 'failed');
  assert.match(JSON.stringify(failed.details), /really-gzip\.csv/);
});

test('small NDJSON files are read whole and bundled as S3 objects are: the same rows and line numbers, and the files are left as they were', async () => {
  const dir = path.join(root, 'events');
  mkdirSync(dir);
  const lines = (from: number, n: number) =>
    ndjsonOf(logRows(n, Date.UTC(2024, 3, 1), 1, from))
      .trimEnd()
      .split('\n');
  const files: Record<string, string> = {
    'a.json': lines(0, 4).join('\n') + '\n',
    // Line 3 is not JSON: it is rejected with its own file's line number, not the bundle's.
    'b.json': [...lines(10, 2), '{"ts": broken', ...lines(12, 2)].join('\r\n') + '\r\n',
    // An array is not bundled: DuckDB reads it where it is, and nothing is written over it.
    'c.json': `[${lines(20, 3).join(',')}]`,
    'd.json': lines(30, 1).join('\n'),
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const before = Object.keys(files).map((name) => statSync(path.join(dir, name)).mtimeMs);
  const done = await run('small local NDJSON', `file://${dir}/`, JSON_TRANSFORM.name);
  assert.equal(done.status, 'done', JSON.stringify(done.details));
  assert.deepEqual(done.details.rows, { read: 13, written: 12, rejected: 1 });
  const b = done.details.files.find((f: { url: string }) => f.url.endsWith('/b.json'));
  assert.deepEqual(
    b.rejects.map((r: { line: number }) => r.line),
    [3],
  );
  for (const [i, [name, text]] of Object.entries(files).entries()) {
    assert.equal(readFileSync(path.join(dir, name), 'utf8'), text, name);
    assert.equal(statSync(path.join(dir, name)).mtimeMs, before[i], `${name} was not written`);
  }
  assert.equal((await inlet.api.query("SELECT count() FROM website.events WHERE timestamp >= '2024-04-01' AND timestamp < '2024-04-02'")).text, '12\n');
});

test('small CSV files are bundled where each line is a record, read alone where not: the same rows and line numbers, the files left as they were', async () => {
  const dir = path.join(root, 'csv-events');
  mkdirSync(dir);
  const day = Date.UTC(2024, 4, 1);
  const lines = (from: number, n: number) =>
    csvOf(logRows(n, day, 1, from), false)
      .trimEnd()
      .split('\n');
  const header = 'timestamp,host,status,bytes,latency,cached';
  const files: Record<string, string> = {
    'a.csv': [header, ...lines(0, 4)].join('\n') + '\n',
    // Line 4 has a status that is no number, line 5 one field too many: each rejected on its own file's line.
    'b.csv': [header, ...lines(10, 2), lines(12, 1)[0]!.replace(/,(200|404|500),/, ',oops,'), `${lines(13, 1)[0]},extra`, ...lines(14, 2)].join('\r\n') + '\r\n',
    // A quoted host spanning two lines: this file is read alone, where it is.
    'c.csv': [header, lines(20, 1)[0]!.replace(/,([a-c])\.example\.com,/, ',"$1.example\ncom",'), ...lines(21, 2)].join('\n') + '\n',
    'd.csv': header + '\n',
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  const before = Object.keys(files).map((name) => statSync(path.join(dir, name)).mtimeMs);
  const done = await run('small local CSV', `file://${dir}/`);
  assert.equal(done.status, 'done', JSON.stringify(done.details));
  assert.deepEqual(done.details.rows, { read: 4 + 6 + 3, written: 4 + 4 + 3, rejected: 2 });
  const b = done.details.files.find((f: { url: string }) => f.url.endsWith('/b.csv'));
  assert.deepEqual(
    b.rejects.map((r: { line: number; column: string | null }) => [r.line, r.column]),
    [
      [4, 'status'],
      [5, null],
    ],
  );
  assert.match(b.rejects[1].reason, /^TOO MANY COLUMNS: the record has 7 fields and the file's records have 6/);
  for (const [i, [name, text]] of Object.entries(files).entries()) {
    assert.equal(readFileSync(path.join(dir, name), 'utf8'), text, name);
    assert.equal(statSync(path.join(dir, name)).mtimeMs, before[i], `${name} was not written`);
  }
  const hosts = await inlet.api.query("SELECT host, count() FROM website.events WHERE timestamp >= '2024-05-01' AND timestamp < '2024-05-02' GROUP BY host ORDER BY host FORMAT TSV");
  // TSV writes the newline inside the value as \n.
  assert.match(hosts.text, /c\.example\\ncom\t1\n/);
});

test('a directory listing leaves symbolic links out and tells of each; a link named itself loads what it points to', async () => {
  const dir = path.join(root, 'linked');
  mkdirSync(path.join(dir, 'sub'), { recursive: true });
  writeFileSync(path.join(dir, 'a.csv'), csvOf(logRows(3, Date.UTC(2024, 4, 1))));
  writeFileSync(path.join(root, 'elsewhere.csv'), csvOf(logRows(4, Date.UTC(2024, 4, 2))));
  symlinkSync(path.join(root, 'elsewhere.csv'), path.join(dir, 'b-link.csv'));
  symlinkSync(dir, path.join(dir, 'sub', 'loop'));
  symlinkSync(path.join(dir, 'missing.csv'), path.join(dir, 'c-dangling.csv'));
  const told: string[] = [];
  const listed: string[] = [];
  for await (const page of new FileSource([root]).list(dir, new AbortController().signal, { pageSize: 10, notListed: (url, why) => told.push(`${path.basename(url)}: ${why.slice(0, 15)}`) })) {
    listed.push(...page.map((o) => path.basename(o.url)));
  }
  assert.deepEqual(listed, ['a.csv']);
  assert.deepEqual(told, ['b-link.csv: a symbolic link', 'c-dangling.csv: a symbolic link', 'loop: a symbolic link']);
  const linked = await run('a link named itself', pathToFileURL(path.join(dir, 'b-link.csv')).href);
  assert.equal(linked.status, 'done', JSON.stringify(linked.details));
  assert.deepEqual(linked.details.rows, { read: 4, written: 4, rejected: 0 });
});
