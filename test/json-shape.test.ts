import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { detectJsonShape } from '../src/ingest/json-shape.js';

const dir = mkdtempSync(path.join(tmpdir(), 'inlet-json-shape-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const shapeOf = (content: string) => {
  const file = path.join(dir, `${n++}.json`);
  writeFileSync(file, content);
  return detectJsonShape(file);
};
const record = (padding: number) => JSON.stringify({ ts: 1, pad: 'x'.repeat(padding) });

describe('how a JSON file holds its records', () => {
  test('NDJSON whose first line is longer than the first look (16 KB) is still seen whole', async () => {
    assert.equal(await shapeOf(`${record(40_000)}\n${record(10)}\n`), 'lines');
    assert.equal(await shapeOf(`\n\n  ${record(100_000)}\n`), 'lines');
  });

  test('a long first line that is not a whole document is read as concatenated documents', async () => {
    assert.equal(await shapeOf(`{"ts": 1, "pad": "${'x'.repeat(40_000)}",\n "more": 2}\n`), 'objects');
    assert.equal(await shapeOf('{\n  "ts": 1\n}\n'), 'objects');
    assert.equal(await shapeOf(`\uFEFF\n{"ts": 1, "pad": "${'x'.repeat(40_000)}",\n "more": 2}\n`), 'objects');
  });

  test('NDJSON whose first record is broken is still NDJSON (its bad line rejected alone), and the members of a document are not records', async () => {
    assert.equal(await shapeOf(`{"ts": 1, broken\n${record(5)}\n${record(5)}\n`), 'lines');
    assert.equal(await shapeOf(`{"ts": 1, broken\n\n  \n{also broken\n${record(5)}\n`), 'lines');
    assert.equal(await shapeOf('{"ts": 1,\n  "inner": {"a": 1},\n  "more": [1, 2]\n}\n{"ts": 2}\n'), 'objects');
    assert.equal(await shapeOf('{"ts":1}{"ts":2}\n{\n  "ts": 3\n}\n'), 'objects');
  });

  test('a file of one line without a newline: objects back to back are documents (a broken one too, which fails the file, naming it), one object or a broken one a line', async () => {
    assert.equal(await shapeOf('{"ts":1,"n":0}{"ts":2,"n":1} {"ts":3,"n":"}{"}'), 'objects');
    assert.equal(await shapeOf('\uFEFF{"ts":1}'), 'lines');
    assert.equal(await shapeOf('{"ts": 1, broken'), 'lines');
    assert.equal(await shapeOf('{"ts":1}{"ts": broken'), 'objects');
  });

  test('a first line cut at 256 KB is taken as NDJSON, a leading "[" as an array', async () => {
    assert.equal(await shapeOf(`${record(300_000)}\n`), 'lines');
    assert.equal(await shapeOf(`  [${record(30_000)},\n${record(5)}]`), 'array');
    assert.equal(await shapeOf(''), 'lines');
  });
});
