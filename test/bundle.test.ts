import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { DuckDBConnection } from '@duckdb/node-api';
import { openDuckDB } from '../src/duckdb/instances.js';
import { queryRows, withConnection } from '../src/duckdb/engine.js';
import { bundleObjects, csvLineRecords, HoldBudget, type HeldObject } from '../src/ingest/bundle.js';
import type { ConvertedChunk, ReadGroup } from '../src/ingest/convert.js';
import { convertWithEvenLineEndings } from '../src/ingest/line-endings.js';
import { readGroups } from '../src/ingest/read-groups.js';
import { FILE_COLUMN } from '../src/transform/bookkeeping.js';
import { validateTransform } from '../src/transform/validate.js';
import { CSV_TRANSFORM, JSON_TRANSFORM } from './helpers/data.js';

const dir = mkdtempSync(path.join(tmpdir(), 'inlet-bundle-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const MAX_LINE_BYTES = 160;
const line = (ts: number, extra: Record<string, unknown> = {}) => JSON.stringify({ ts, host: `h${ts % 7}`, status: 200, bytes: ts, latency: 1.5, cached: true, ...extra });

/** NDJSON objects as logs hold them, and every way a line can go wrong. */
function objects(): Buffer[] {
  const plain = (from: number, n: number) => Array.from({ length: n }, (_, i) => line(from + i));
  const text = [
    plain(1000, 5).join('\n') + '\n',
    plain(2000, 3).join('\n'),
    `${line(3000)}\n\n${line(3001)}\n   \n${line(3002)}\n\n`,
    `${line(4000)}\n{"ts": not json\n[1]\n${line(4001, { ts: 'soon' })}\n${line(4002)}\n`,
    `${line(5000)}\n{"ts":5001,\u0001"host":"a"}\n${line(5002)}\n`,
    `\uFEFF${line(7000)}\n${line(7001)}\n`,
    plain(8000, 3).join('\r\n') + '\r\n',
    `${line(9000)}\n${line(9001)}\r\n${line(9002, { status: 'x' })}\n${line(9003)}\r\n`,
    `{"ts":10000,\r"host":"cr"}\n${line(10001)}\n`,
    '',
    `[${line(11000)},${line(11001)}]`,
    `${line(12000)}\n{"ts":12001,"host":"${'x'.repeat(MAX_LINE_BYTES)}"}\n${line(12002)}\n`,
    ...Array.from({ length: 30 }, (_, f) => plain(20000 + f * 10, 4).join('\n') + (f % 4 === 0 ? '\n{bad\n' : '\n')),
  ].map((t) => Buffer.from(t));
  // Not UTF-8: the reader refuses the line.
  text.splice(6, 0, Buffer.concat([Buffer.from(`${line(6000)}\n{"ts":6001,"host":"`), Buffer.from([0xff, 0xfe]), Buffer.from(`"}\n${line(6002)}\n`)]));
  return text;
}

interface Outcome {
  accounts: ConvertedChunk['accounts'];
  rows: Record<string, unknown>[][];
  quarantine: Record<string, unknown>[];
}

type TransformOf = { type: string; settings: Record<string, unknown> };
const parsed = (t: TransformOf) => validateTransform(t.type, t.settings).transform;

async function outcome(c: DuckDBConnection, t: TransformOf, groups: readonly ReadGroup[], fileCount: number): Promise<Outcome> {
  const transform = parsed(t);
  const { chunk } = await convertWithEvenLineEndings({ connection: c, transform, groups, fileCount, nowMs: 0, keepRejects: 10_000 }, (j) => path.join(dir, `even-${j}-${Math.random()}`));
  try {
    const rows: Record<string, unknown>[][] = Array.from({ length: fileCount }, () => []);
    for (const row of await queryRows<Record<string, unknown>>(c, `SELECT * FROM ${chunk.converted} ORDER BY rowid`)) rows[Number(row[FILE_COLUMN])]!.push(row);
    // A chunk without a rejected record collects none.
    const quarantine = chunk.rejects ? await queryRows<Record<string, unknown>>(c, `SELECT * FROM ${chunk.rejects.table} ORDER BY f, line, reason, raw`) : [];
    return { accounts: chunk.accounts, rows, quarantine };
  } finally {
    await chunk.drop();
  }
}

/** Converts the objects from their own files, and with the ones that read by line held and bundled. */
async function bothWays(data: readonly Buffer[], name: string, t: TransformOf = JSON_TRANSFORM) {
  const transform = parsed(t);
  const files = data.map((bytes, i) => {
    const file = path.join(dir, `${name}-${i}`);
    writeFileSync(file, bytes);
    return file;
  });
  const limit = { maxLineBytes: MAX_LINE_BYTES, copyOf: (i: number) => path.join(dir, `${name}-lines-${i}-${Math.random()}`) };
  const engine = await openDuckDB({ kind: 'worker-slot', threads: 2, memoryLimit: '256MB', tempDirectory: path.join(dir, 'spill'), allowedDirectories: [dir] });
  try {
    const alone = await withConnection(engine, undefined, async (c) => outcome(c, t, await readGroups(transform, files, limit), files.length));
    const held: HeldObject[] = data.map((bytes, number) => ({ number, data: bytes }));
    const bundle = await bundleObjects(transform, held, path.join(dir, `${name}-bundle`), MAX_LINE_BYTES);
    const bundled = new Set(bundle.group!.numbers);
    const local = files.map((file, j) => (bundled.has(j) ? undefined : file));
    const together = await withConnection(engine, undefined, async (c) => outcome(c, t, [...(await readGroups(transform, local, limit)), bundle.group!], files.length));
    return { alone, together, others: bundle.others.map((o) => o.number) };
  } finally {
    engine.closeSync();
  }
}

/**
 * The bundle read converted, accounted and quarantined exactly as the objects' own files, the
 * objects it could not take (`others`) were read from their files, and it saw every kind of
 * reject in `kinds`. Answers the quarantine's reasons.
 */
function assertSameBothWays(result: Awaited<ReturnType<typeof bothWays>>, others: number[], kinds: readonly string[]): string[] {
  const { alone, together } = result;
  assert.deepEqual(result.others, others);
  assert.deepEqual(together.accounts, alone.accounts);
  assert.deepEqual(together.rows, alone.rows);
  assert.deepEqual(together.quarantine, alone.quarantine);
  const reasons = together.quarantine.map((r) => String(r.reason));
  for (const kind of kinds)
    assert.ok(
      reasons.some((r) => r.startsWith(kind)),
      `${kind} in ${reasons.join(' | ')}`,
    );
  return reasons;
}

test('NDJSON objects read as one bundle convert, account and quarantine exactly as from their own files', async () => {
  const result = await bothWays(objects(), 'messy');
  // The object that is not all UTF-8, the array and the object with a long line are read from their files.
  const { together } = result;
  const reasons = assertSameBothWays(
    result,
    [6, 11, 12],
    ['TOO MANY COLUMNS', 'INVALID ENCODING', 'record is not valid JSON', 'record is JSON but not an object', 'column "timestamp"', 'column "status"', 'line longer than 160 bytes'],
  );
  // A line holding the read's delimiter is judged as in its own file: one field, not the bundle's two.
  assert.ok(reasons.some((r) => r === "TOO MANY COLUMNS: the record has 2 fields and the file's records have 1 (its first record's count)"));
  assert.equal(
    together.accounts.reduce((sum, a) => sum + a.rowsRead, 0),
    5 + 3 + 3 + 5 + 3 + 3 + 2 + 3 + 4 + 2 + 0 + 2 + 3 + 30 * 4 + 8,
  );
});

test('a bundle of thousands of lines, which DuckDB reads in parallel pieces, names each refused and failed record as its file would', async () => {
  const data = Array.from({ length: 600 }, (_, f) => {
    const lines = Array.from({ length: 60 }, (_, i) => line(100_000 + f * 100 + i));
    if (f % 7 === 3) lines.splice(1 + (f % 50), 0, '{"ts": 1, broken');
    if (f % 11 === 5) lines.splice(1 + (f % 40), 0, `{"ts":${f},"host":"a\u0001b"}`);
    if (f % 13 === 0) lines.push(line(f, { status: -1 }));
    return Buffer.from(lines.join(f % 2 === 0 ? '\n' : '\r\n') + '\n');
  });
  const { alone, together, others } = await bothWays(data, 'many');
  assert.deepEqual(others, []);
  assert.deepEqual(together.accounts, alone.accounts);
  assert.deepEqual(together.rows, alone.rows);
  assert.deepEqual(together.quarantine, alone.quarantine);
  assert.ok(together.quarantine.length > 100, `${together.quarantine.length} rejects`);
});

const HEADER = 'timestamp,host,status,bytes,latency,cached';
const csvRow = (s: number, host = `h${s % 7}`, status: string | number = 200) => `2024-01-01 00:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')},${host},${status},${s},1.5,true`;
const csvObject = (from: number, n: number, ending = '\n') => `${HEADER}${ending}${Array.from({ length: n }, (_, i) => csvRow(from + i)).join(ending)}${ending}`;

/** CSV objects as logs hold them, and every way a line or a record can go wrong. */
function csvObjects(): Buffer[] {
  const text = [
    csvObject(0, 5),
    csvObject(100, 3, '\r\n'),
    `\uFEFF${csvObject(200, 2)}`,
    // Quoted fields: delimiters, doubled quotes, a quote inside a field (data), an empty quoted field.
    `${HEADER}\n${csvRow(300, '"a,b"')}\n${csvRow(301, '"say ""hi"""')}\n${csvRow(302, '5" disk')}\n${csvRow(303, '""')}\n`,
    // Reader rejects: too many fields, too few, a quote closed and followed by text.
    `${HEADER}\n${csvRow(400)}\n${csvRow(401)},extra\n2024-01-01 00:06:42,h,200\n${csvRow(403, '"x"y')}\n${csvRow(404)}\n`,
    // Conversion rejects: a bad time, a bad status, a negative status.
    `${HEADER}\n${csvRow(500)}\nnot-a-time,h,200,1,1.5,true\n${csvRow(502, 'h', 'oops')}\n${csvRow(503, 'h', -1)}\n`,
    `${HEADER}\n${csvRow(600)}\n${csvRow(601)}`,
    HEADER + '\n',
    '',
    // Left to their own files: a quoted field spanning lines, a blank line, a long line, another width.
    `${HEADER}\n${csvRow(700, '"two\nlines"')}\n${csvRow(701)}\n`,
    `${HEADER}\n${csvRow(800)}\n\n${csvRow(801)}\n`,
    `${HEADER}\n${csvRow(1000, 'x'.repeat(MAX_LINE_BYTES))}\n${csvRow(1001)}\n`,
    `${HEADER},more\n${csvRow(1100)},1\n${csvRow(1101)},2\n`,
    // A head line opening a quote it does not close: skipped by line, as the files are read.
    `"time,host,status,bytes,latency,cached\n${csvRow(1200)}\n${csvRow(1201)}\n`,
    // One space may lead a quoted field: bundled; a quote so opened at its end and never closed: left to its file.
    `${HEADER}\n${csvRow(1400, ' "a,b"')}\n${csvRow(1401, '  "c"')}\n`,
    `${HEADER}\r\n${csvRow(1500)}\r\n2024-01-01 00:25:01,h,200,1,1.5, """\r\n\r\n`,
    ...Array.from({ length: 30 }, (_, f) => csvObject(2000 + f * 10, 4, f % 2 === 0 ? '\n' : '\r\n') + (f % 4 === 0 ? 'bad,line\n' : '')),
  ].map((t) => Buffer.from(t));
  // Not UTF-8: the reader refuses the line.
  text.splice(6, 0, Buffer.concat([Buffer.from(`${HEADER}\n${csvRow(1300)}\n2024-01-01 00:00:01,`), Buffer.from([0xff, 0xfe]), Buffer.from(`,200,1,1.5,true\n${csvRow(1302)}\n`)]));
  return text;
}

test('CSV objects read as one bundle convert, account and quarantine exactly as from their own files', async () => {
  const result = await bothWays(csvObjects(), 'csv', CSV_TRANSFORM);
  const { together } = result;
  assertSameBothWays(result, [6, 10, 11, 12, 13, 16], ['TOO MANY COLUMNS', 'MISSING COLUMNS', 'UNQUOTED VALUE', 'INVALID ENCODING', 'column "timestamp"', 'column "status"', 'line longer than 160 bytes']);
  const lines = together.quarantine.filter((r) => Number(r.f) === 4).map((r) => Number(r.line));
  assert.deepEqual(lines, [3, 4, 5]);
  assert.deepEqual(
    together.rows[15]!.map((r) => r.host),
    ['a,b', '  "c"'],
  );
  assert.deepEqual(
    together.quarantine.filter((r) => Number(r.f) === 16).map((r) => [Number(r.line), String(r.reason).slice(0, 14)]),
    [[3, 'UNQUOTED VALUE']],
  );
});

test('a CSV bundle of thousands of lines names each refused and failed record as its file would, with or without a head to skip, whatever its lines end in', async () => {
  for (const skip of [0, 2]) {
    const t = { ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, format_details: { delimiter: ',', skip_head: skip } } };
    const data = Array.from({ length: 400 }, (_, f) => {
      const lines = Array.from({ length: 60 }, (_, i) => csvRow(f * 100 + i, f % 3 === 0 ? `"quoted, ${i}"` : `h${i}`));
      if (f % 7 === 3) lines.splice(1 + (f % 50), 0, 'too,few');
      if (f % 11 === 5) lines.splice(1 + (f % 40), 0, csvRow(f, 'h', 'x'));
      const ending = f % 2 === 0 ? '\n' : '\r\n';
      // Some heads end their lines otherwise than the records.
      const head = (f % 5 === 1 ? 'exported\r\n' : f % 5 === 2 ? 'exported\n' : `${HEADER}${ending}`).repeat(skip);
      return Buffer.from(head + lines.join(ending) + '\n');
    });
    const { alone, together, others } = await bothWays(data, `csv-many-${skip}`, t);
    assert.deepEqual(others, []);
    assert.deepEqual(together.accounts, alone.accounts);
    assert.deepEqual(together.rows, alone.rows);
    assert.deepEqual(together.quarantine, alone.quarantine);
    assert.ok(together.quarantine.length > 50, `${together.quarantine.length} rejects`);
  }
});

test('records far from their object’s field count are judged in the bundle as in their own files (one reject each)', async () => {
  // Within the test's line limit, so that the objects are bundled.
  const wide = Array.from({ length: 60 }, () => '1').join(',');
  const csv = [`${HEADER}\n${csvRow(1)}\n${wide}\n${csvRow(2, 'h', 'oops')}\nx\n${csvRow(3, 'h', 'bad')}\n`, `${HEADER}\r\n${csvRow(4)}\r\n1,2,3,4,5,6,7,8\r\n`, csvObject(10, 3)].map((t) => Buffer.from(t));
  const csvResult = await bothWays(csv, 'csv-misfits', CSV_TRANSFORM);
  const reasons = assertSameBothWays(csvResult, [], ['TOO MANY COLUMNS: the record has 60 fields', 'MISSING COLUMNS: the record has 1 fields', 'TOO MANY COLUMNS: the record has 8 fields', 'column "status"']);
  assert.equal(reasons.length, 5);
  // Records after a blanked misfit keep their lines.
  assert.deepEqual(
    csvResult.together.quarantine.filter((r) => Number(r.f) === 0).map((r) => [Number(r.line), String(r.reason).slice(0, 15)]),
    [
      [3, 'TOO MANY COLUMN'],
      [4, 'column "status"'],
      [5, 'MISSING COLUMNS'],
      [6, 'column "status"'],
    ],
  );
  const ok = JSON.stringify({ ts: Date.UTC(2024, 0, 1), host: 'h', status: 200 });
  const ndjson = [`${ok}\n${'\u0001'.repeat(100)}x\n${ok}\n"a\u0001b"\n`, `${ok}\n`].map((t) => Buffer.from(t));
  const jsonResult = await bothWays(ndjson, 'ndjson-misfits');
  assertSameBothWays(jsonResult, [], ['TOO MANY COLUMNS: the record has 101 fields', 'TOO MANY COLUMNS: the record has 2 fields']);
});

test('CSV objects without a record (a header alone, or nothing) make a bundle of no lines that reads as their files do', async () => {
  const { alone, together, others } = await bothWays([Buffer.from(`${HEADER}\n`), Buffer.alloc(0), Buffer.from(HEADER)], 'csv-empty', CSV_TRANSFORM);
  assert.deepEqual(others, []);
  assert.deepEqual(together.accounts, alone.accounts);
  assert.equal(together.accounts.length, 3);
});

test('a CSV object is bundled only where each line after its head is exactly one record', () => {
  const csv = parsed(CSV_TRANSFORM).csv;
  const look = (text: string) => {
    const found = csvLineRecords(Buffer.from(text), csv);
    return found === undefined ? 'not by line' : (found.fields ?? 'no record');
  };
  assert.equal(look('h\na,"b,c",d\r\ne,f,g\n'), 3);
  assert.equal(look('"h\na,b\n'), 2);
  assert.equal(look('h\n'), 'no record');
  assert.equal(look('h\na,"b\nc"\n'), 'not by line');
  assert.equal(look('h\na,b\n\nc,d\n'), 'not by line');
  assert.equal(look('h\na\rb,c\n'), 'not by line');
  assert.equal(look('h\na,"b""c\n'), 'not by line');
});

test('a chunk holds objects in memory up to its budget, and writes the rest', () => {
  const budget = new HoldBudget(10);
  assert.equal(budget.take(6), true);
  assert.equal(budget.take(5), false);
  assert.equal(budget.take(4), true);
  assert.equal(budget.take(1), false);
});
