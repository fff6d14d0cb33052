import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { queryRows, withConnection } from '../src/duckdb/engine.js';
import { openDuckDB } from '../src/duckdb/instances.js';
import { convertChunk } from '../src/ingest/convert-chunk.js';
import { convertFiles, UnjudgedRecordsError, type ConvertedChunk, type ReadGroup } from '../src/ingest/convert.js';
import { convertWithEvenLineEndings } from '../src/ingest/line-endings.js';
import { readGroups } from '../src/ingest/read-groups.js';
import { FILE_COLUMN, ROW_COLUMN } from '../src/transform/bookkeeping.js';
import type { Transform } from '../src/transform/model.js';
import { validateTransform } from '../src/transform/validate.js';
import { CSV_TRANSFORM, JSON_TRANSFORM } from './helpers/data.js';

const dir = mkdtempSync(path.join(tmpdir(), 'inlet-convert-chunk-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const HEAD = 'timestamp,host,status,bytes,latency,cached\n';
const row = (i: number) => `2024-01-01 00:00:${String(i % 60).padStart(2, '0')},h${i},200,${i},0.5,true`;
const rows = (n: number, from = 0) => Array.from({ length: n }, (_, i) => row(from + i)).join('\n') + '\n';
const json = (i: number) => JSON.stringify({ ts: 1704067200000 + i, host: `h${i}`, status: 200, bytes: i, latency: 0.5, cached: true });

let written = 0;
function files(texts: readonly (string | Buffer)[]): string[] {
  return texts.map((text) => {
    const file = path.join(dir, `f${written++}.txt`);
    writeFileSync(file, text);
    return file;
  });
}

/** Everything a conversion tells: each file's account, the rows it writes, the records it quarantines; or its failure. */
async function outcome(connection: DuckDBConnection, convert: () => Promise<ConvertedChunk>) {
  let chunk: ConvertedChunk;
  try {
    chunk = await convert();
  } catch (err) {
    return { failed: `${(err as Error).constructor.name}: ${(err as Error).message}` };
  }
  try {
    // Files read strictly and files judged first are read apart: the rows of a file keep their order, the files may not.
    const written = await queryRows(connection, `SELECT * EXCLUDE (${ROW_COLUMN}) FROM ${chunk.accepted} ORDER BY ${FILE_COLUMN}, ${ROW_COLUMN}`);
    const quarantined = chunk.rejects ? await queryRows(connection, `SELECT f, line, "column", reason, raw FROM ${chunk.rejects.table} ORDER BY f, line, reason, raw`) : [];
    return { accounts: chunk.accounts, written: JSON.stringify(written, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)), quarantined };
  } finally {
    await chunk.drop();
  }
}

/** The chunk converted as before (every record judged first), and strictly first (judged only where DuckDB refuses one). */
async function bothWays(engine: DuckDBInstance, transform: Transform, local: string[]) {
  const lines = (tag: string) => ({ maxLineBytes: 200, copyOf: (i: number) => `${local[i]}.${tag}-lines` });
  const evenOf = (tag: string) => (i: number) => `${local[i]}.${tag}-even`;
  const options = { transform, fileCount: local.length, nowMs: 0, keepRejects: 1000 };
  const judged = await withConnection(engine, undefined, async (connection) =>
    outcome(connection, async () => (await convertWithEvenLineEndings({ ...options, connection, groups: await readGroups(transform, local, lines('judged')) }, evenOf('judged'))).chunk),
  );
  let groups: readonly ReadGroup[] = [];
  const strict = await withConnection(engine, undefined, async (connection) =>
    outcome(connection, async () => {
      const converted = await convertChunk({ ...options, connection, groups: await readGroups(transform, local, lines('strict'), { judge: false }) }, { lines: lines('strict'), evenOf: evenOf('strict') });
      groups = converted.groups;
      return converted.chunk;
    }),
  );
  return { judged, strict, rescanned: groups.length > 0 && groups.every((g) => !g.unjudged) };
}

describe('a chunk read strictly first, its records judged only when DuckDB refuses one', () => {
  const csv = validateTransform(CSV_TRANSFORM.type, CSV_TRANSFORM.settings).transform;
  const ndjson = validateTransform(JSON_TRANSFORM.type, JSON_TRANSFORM.settings).transform;
  let engine: DuckDBInstance;
  const open = async () => (engine ??= await openDuckDB({ kind: 'worker-slot', threads: 2, memoryLimit: '256MB', tempDirectory: path.join(dir, 'spill'), allowedDirectories: [dir] }));
  after(() => engine?.closeSync());

  test('a chunk DuckDB reads without refusing a record is converted once, and as when judged first', async () => {
    const local = files([HEAD + rows(300), HEAD + rows(50).replace('h7,200', 'h7,oops') + 'not-a-time,h,1,2,3,true\n', HEAD + rows(5).replaceAll('\n', '\r\n'), HEAD + 'x'.repeat(300) + '\n' + rows(3)]);
    const { judged, strict, rescanned } = await bothWays(await open(), csv, local);
    assert.equal(rescanned, false);
    assert.ok(!('failed' in strict), String(strict.failed));
    assert.deepEqual(strict, judged);
    assert.deepEqual(
      strict.accounts!.map((a) => [a.rowsRead, a.rowsWritten, a.rowsRejected]),
      [
        [300, 300, 0],
        [51, 49, 2],
        [5, 5, 0],
        [4, 3, 1],
      ],
    );
  });

  // Each file of a chunk holds a record DuckDB refuses, beside clean files: the strict read fails, and the chunk is judged and read again.
  const refused: [string, Transform, (string | Buffer)[]][] = [
    ['a record short of fields', csv, [HEAD + rows(20), HEAD + rows(10) + '2024-01-01 00:00:00,h\n' + rows(10, 10)]],
    ['a record with fields past the file’s', csv, [HEAD + rows(10) + row(10) + ',extra,more\n' + rows(5, 11), HEAD + rows(3)]],
    ['a record with bytes that are not UTF-8', csv, [Buffer.concat([Buffer.from(HEAD + rows(4)), Buffer.from([0x32, 0x30, 0xff, 0x0a]), Buffer.from(rows(4, 4))])]],
    ['text after a closing quote', csv, [HEAD + rows(3) + '2024-01-01 00:00:00,"h"x,200,1,0.5,true\n' + rows(3, 3)]],
    ['a quote that never closes', csv, [HEAD + rows(2), HEAD + rows(3) + '2024-01-01 00:00:00,"h,200,1,0.5,true\n' + rows(3, 3)]],
    ['a short record in a file of mixed line endings', csv, [HEAD + rows(3).replaceAll('\n', '\r\n') + rows(2, 3) + 'short\n']],
    [
      'an NDJSON line holding the byte that splits fields, and one not UTF-8',
      ndjson,
      [`${json(1)}\n{"host":"a\u0001b"}\n${json(2)}\n`, Buffer.concat([Buffer.from(`${json(3)}\n`), Buffer.from([0x7b, 0xfe, 0x7d, 0x0a]), Buffer.from(`${json(4)}\n`)])],
    ],
  ];
  for (const [name, transform, texts] of refused) {
    test(`${name}: the chunk is judged and read again, with the outcome of judging first`, async () => {
      const { judged, strict, rescanned } = await bothWays(await open(), transform, files(texts));
      assert.deepEqual(strict, judged);
      if (!('failed' in strict)) {
        assert.equal(rescanned, true);
        assert.ok(strict.accounts!.some((a) => a.rowsRejected > 0 && a.rejects.length > 0));
      }
    });
  }

  // Found by a differential fuzz of both ways: each read strictly gave another outcome, or stopped DuckDB's instance.
  const csvOf = (format_details: object, fields: number) =>
    validateTransform('csv', {
      format_details,
      output_columns: [
        { name: 't', datatype: { type: 'datetime', primary: true, format: '2006-01-02 15:04:05', source: { from_input_index: 0 } } },
        { name: 'last', datatype: { type: 'string', source: { from_input_index: fields - 1 } } },
      ],
    }).transform;
  const unlike: [string, Transform, (string | Buffer)[]][] = [
    ['a character cut short in the last field (DuckDB’s reader fails an internal check)', csvOf({ delimiter: '|' }, 7), [Buffer.from('||||||\xe2\n', 'latin1')]],
    ['a quote never closed, in a read of several files', csvOf({ delimiter: ',', skip_head: 2 }, 3), ['\n\n,,"\n2', '2024-01-01 00:00:00,a,b\n']],
    ['a lone "\\r" and a quote never closed', csvOf({ delimiter: '|', quote: "'", escape: '\\', skip_comments: true, comment: '#' }, 1), ['||\r', "'\n0", '||\ry\n']],
    ['a lone "\\r" in a record short of a field', csvOf({ delimiter: ';', skip_head: 1 }, 2), ['\n;o\ra']],
    ['a short record under a head of "\\r\\n" lines over "\\n" ones', csvOf({ delimiter: ',', skip_head: 2 }, 2), ['h1\r\nh2\n2024-01-01 00:00:00,a\n2024-01-01 00:00:01\n']],
  ];
  for (const [name, transform, texts] of unlike) {
    test(`${name}: as when judged first`, async () => {
      const engine = await open();
      const { judged, strict } = await bothWays(engine, transform, files(texts));
      assert.deepEqual(strict, judged);
      // The instance still reads.
      await withConnection(engine, undefined, async (connection) => assert.deepEqual(await queryRows(connection, 'SELECT 1 AS one'), [{ one: 1 }]));
    });
  }

  test('files ending inside a quoted field, ending lines unevenly, holding bytes that are not UTF-8, ending in a misfit record, or read with comments, are judged before DuckDB reads them', async () => {
    const local = files([
      HEAD + rows(3),
      HEAD + rows(3).replace('h1', '"h,1"').replace('h2', ' "h ""2"""'),
      HEAD + rows(3).replace('h2', '"h,2'),
      Buffer.concat([Buffer.from(HEAD + rows(2)), Buffer.from([0xc3, 0x0a])]),
      HEAD + rows(2).replaceAll('\n', '\r\n'),
      HEAD + rows(2).replace('h0', '5" disk').replace('h1', 'a, "b'),
      HEAD + rows(2).replaceAll('\n', '\r\n') + rows(2, 2),
      HEAD + rows(2).replace('\n', '\r'),
    ]);
    const groups = await readGroups(csv, local, undefined, { judge: false });
    assert.deepEqual(
      groups.map((g) => [g.numbers, g.unjudged ?? false]),
      [
        [[0, 1, 4], true],
        [[2, 3, 5, 6, 7], false],
      ],
    );
    // A file cut short while written ends in a misfit record: judged first, rather than found by a strict read of the whole chunk.
    const ends = files([HEAD + rows(3) + '2024-01-01 00:00:00,h\n\n', HEAD + rows(3) + ',,,,,,x', HEAD + rows(3) + 'a,"b",c\n', HEAD + rows(3) + '2024-01-01 00:00:00,h,200,1,0.5,true,,\n', HEAD + rows(3) + '\0\n']);
    assert.deepEqual(
      (await readGroups(csv, ends, undefined, { judge: false })).map((g) => [g.numbers, g.unjudged ?? false]),
      [
        [[0, 1, 4], false],
        [[2, 3], true],
      ],
    );
    const commented = validateTransform(CSV_TRANSFORM.type, { ...CSV_TRANSFORM.settings, format_details: { ...CSV_TRANSFORM.settings.format_details, skip_comments: true } }).transform;
    assert.equal((await readGroups(commented, local.slice(0, 1), undefined, { judge: false }))[0]!.unjudged, undefined);
  });

  test('files of fewer fields than a column reads, before wider ones in the chunk, leave that column empty, and the wider files load', async () => {
    const strings = validateTransform('csv', {
      format_details: { delimiter: '|' },
      output_columns: [
        { name: 't', datatype: { type: 'datetime', primary: true, format: '2006-01-02 15:04:05', source: { from_input_index: 0 } } },
        { name: 'host', datatype: { type: 'string', source: { from_input_index: 1 } } },
        { name: 'n', datatype: { type: 'int64', source: { from_input_index: 2 } } },
      ],
    }).transform;
    const { judged, strict } = await bothWays(await open(), strings, files(['2024-01-01 00:00:00\n', '2024-01-01 00:00:01|b|7\n', '2024-01-01 00:00:02|c\n']));
    assert.deepEqual(strict, judged);
    assert.deepEqual(
      strict.accounts!.map((a) => [a.rowsRead, a.rowsWritten]),
      [
        [1, 1],
        [1, 1],
        [1, 1],
      ],
    );
    assert.match(strict.written!, /"host":null,"n":null.*"host":"b","n":"7".*"host":"c","n":null/);
  });

  test('a strict read fails on a refused record with UnjudgedRecordsError, never as a failure of the file', async () => {
    const local = files([HEAD + rows(2) + 'short\n' + rows(3, 2)]);
    const groups = await readGroups(csv, local, undefined, { judge: false });
    assert.deepEqual(
      groups.map((g) => g.unjudged),
      [true],
    );
    await withConnection(await open(), undefined, async (connection) => {
      await assert.rejects(convertFiles({ connection, transform: csv, groups, fileCount: 1, nowMs: 0 }), UnjudgedRecordsError);
    });
  });
});
