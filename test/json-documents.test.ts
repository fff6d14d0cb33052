import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { withConnection } from '../src/duckdb/engine.js';
import { openDuckDB } from '../src/duckdb/instances.js';
import { convertFiles, UnreadableFileError } from '../src/ingest/convert.js';
import { readGroups } from '../src/ingest/read-groups.js';
import { validateTransform } from '../src/transform/validate.js';
import { JSON_TRANSFORM, referenceJob } from './helpers/data.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

let s3: LocalS3;
let inlet: TestInlet;
before(async () => {
  s3 = await startLocalS3();
  await s3.createBucket('documents');
  inlet = await startInlet({ s3Endpoint: s3.endpoint });
  await createWebsiteEvents(inlet.api, [JSON_TRANSFORM]);
});
after(async () => {
  await inlet?.stop();
  await s3?.stop();
});

const doc = (n: number) => JSON.stringify({ ts: Date.UTC(2024, 0, 1, 0, 0, n), host: 'h', status: 200, bytes: n, latency: 0.5, cached: true });

async function run(key: string, body: string) {
  await s3.put('documents', key, body);
  const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob(key, `s3://documents/${key}`, { transform: JSON_TRANSFORM.name }));
  assert.equal(created.status, 200, created.text);
  return inlet.api.waitForJob(created.body.uuid, undefined, 120_000);
}

test('a broken document among concatenated JSON documents, or a cut JSON array, fails its file naming the record, not as one rejected row', async () => {
  // One line of documents back to back, the third broken: not one rejected "line" standing for twenty records.
  const line = await run('one-line.json', `${[1, 2].map(doc).join('')}{"ts": }${[4, 5].map(doc).join('')}`);
  assert.equal(line.status, 'failed', JSON.stringify(line.details));
  assert.deepEqual(line.details.rows, { read: 0, written: 0, rejected: 0 });
  const [file] = line.details.files;
  assert.match(file.error, /^s3:\/\/documents\/one-line\.json is not valid JSON: document 3 of the file is broken at its byte \d+ \(unexpected character\); fix the file, or write its records as NDJSON lines/);

  const pretty = await run('pretty.json', `${JSON.stringify(JSON.parse(doc(1)), null, 2)}\n{\n  "ts": 2,\n  "host":\n}\n${JSON.stringify(JSON.parse(doc(3)), null, 2)}\n`);
  assert.match(pretty.details.files[0].error, /is not valid JSON: document 2 of the file is broken at its byte/);

  const cut = await run('cut.json', `[${[1, 2, 3].map(doc).join(',')},{"ts": 4`);
  assert.match(cut.details.files[0].error, /is not valid JSON: element 4 of the file is cut short \(unexpected end of data\)/);
});

test('of several broken files of JSON documents, the first is named, whichever one the read meets first', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'inlet-json-documents-'));
  const engine = await openDuckDB({ kind: 'worker-slot', threads: 2, memoryLimit: '256MB', tempDirectory: path.join(dir, 'spill'), allowedDirectories: [dir] });
  try {
    const many = (from: number) => Array.from({ length: 400 }, (_, i) => doc(from + i)).join('');
    const texts = [many(0), `${many(0)}{"ts": }${many(1)}`, `{broken${many(2)}`, `${many(3)}{"ts": 5,}`];
    const files = texts.map((text, i) => {
      const file = path.join(dir, `${i}.json`);
      writeFileSync(file, text);
      return file;
    });
    const { transform } = validateTransform(JSON_TRANSFORM.type, JSON_TRANSFORM.settings);
    const groups = await readGroups(transform, files);
    for (let run = 0; run < 20; run++) {
      await withConnection(engine, undefined, async (connection) => {
        await assert.rejects(convertFiles({ connection, transform, groups, fileCount: files.length, nowMs: 0 }), (err: unknown) => {
          assert.ok(err instanceof UnreadableFileError);
          assert.equal(err.fileNumber, 1);
          assert.match(err.message, /^is not valid JSON: document 401 of the file is broken/);
          return true;
        });
      });
    }
  } finally {
    engine.closeSync();
    rmSync(dir, { recursive: true, force: true });
  }
});
