import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { DuckDBConnection } from '@duckdb/node-api';
import { openDuckDB } from '../src/duckdb/instances.js';
import { queryRows, withConnection } from '../src/duckdb/engine.js';
import { bundleLines, HoldBudget, type HeldObject } from '../src/ingest/bundle.js';
import type { ConvertedChunk, ReadGroup } from '../src/ingest/convert.js';
import { convertWithEvenLineEndings } from '../src/ingest/line-endings.js';
import { readGroups } from '../src/ingest/read-groups.js';
import { FILE_COLUMN } from '../src/transform/bookkeeping.js';
import { validateTransform } from '../src/transform/validate.js';
import { JSON_TRANSFORM } from './helpers/data.js';

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

async function outcome(c: DuckDBConnection, groups: readonly ReadGroup[], fileCount: number): Promise<Outcome> {
  const { transform } = validateTransform(JSON_TRANSFORM.type, JSON_TRANSFORM.settings);
  const { chunk } = await convertWithEvenLineEndings({ connection: c, transform, groups, fileCount, nowMs: 0, keepRejects: 10_000 }, (j) => path.join(dir, `even-${j}-${Math.random()}`));
  try {
    const rows: Record<string, unknown>[][] = Array.from({ length: fileCount }, () => []);
    for (const row of await queryRows<Record<string, unknown>>(c, `SELECT * FROM ${chunk.converted} ORDER BY rowid`)) rows[Number(row[FILE_COLUMN])]!.push(row);
    const quarantine = await queryRows<Record<string, unknown>>(c, `SELECT * FROM ${chunk.rejects!.table} ORDER BY f, line`);
    return { accounts: chunk.accounts, rows, quarantine };
  } finally {
    await chunk.drop();
  }
}

/** Converts the objects from their own files, and with the NDJSON ones held and bundled. */
async function bothWays(data: readonly Buffer[], name: string) {
  const { transform } = validateTransform(JSON_TRANSFORM.type, JSON_TRANSFORM.settings);
  const files = data.map((bytes, i) => {
    const file = path.join(dir, `${name}-${i}`);
    writeFileSync(file, bytes);
    return file;
  });
  const limit = { maxLineBytes: MAX_LINE_BYTES, copyOf: (i: number) => path.join(dir, `${name}-lines-${i}-${Math.random()}`) };
  const engine = await openDuckDB({ kind: 'worker-slot', threads: 2, memoryLimit: '256MB', tempDirectory: path.join(dir, 'spill'), allowedDirectories: [dir] });
  try {
    const alone = await withConnection(engine, undefined, async (c) => outcome(c, await readGroups(transform, files, limit), files.length));
    const held: HeldObject[] = data.map((bytes, number) => ({ number, data: bytes }));
    const bundle = await bundleLines(held, path.join(dir, `${name}-bundle`), MAX_LINE_BYTES);
    const bundled = new Set(bundle.group!.numbers);
    const local = files.map((file, j) => (bundled.has(j) ? undefined : file));
    const together = await withConnection(engine, undefined, async (c) => outcome(c, [...(await readGroups(transform, local, limit)), bundle.group!], files.length));
    return { alone, together, others: bundle.others.map((o) => o.number) };
  } finally {
    engine.closeSync();
  }
}

test('NDJSON objects read as one bundle convert, account and quarantine exactly as from their own files', async () => {
  const { alone, together, others } = await bothWays(objects(), 'messy');
  // The array and the object with a long line are read from their files, as before.
  assert.deepEqual(others, [11, 12]);
  assert.deepEqual(together.accounts, alone.accounts);
  assert.deepEqual(together.rows, alone.rows);
  assert.deepEqual(together.quarantine, alone.quarantine);
  // The bundle saw every kind of reject: the reader's, the conversion's, long lines.
  const reasons = together.quarantine.map((r) => String(r.reason));
  for (const kind of ['TOO MANY COLUMNS', 'INVALID ENCODING', 'record is not valid JSON', 'record is JSON but not an object', 'column "timestamp"', 'column "status"', 'line longer than 160 bytes']) {
    assert.ok(
      reasons.some((r) => r.startsWith(kind)),
      `${kind} in ${reasons.join(' | ')}`,
    );
  }
  // A line the reader refused is told as in its own file: one column, not the bundle's two.
  assert.ok(reasons.some((r) => r === 'TOO MANY COLUMNS: Expected Number of Columns: 1 Found: 2'));
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

test('a chunk holds objects in memory up to its budget, and writes the rest', () => {
  const budget = new HoldBudget(10);
  assert.equal(budget.take(6), true);
  assert.equal(budget.take(5), false);
  assert.equal(budget.take(4), true);
  assert.equal(budget.take(1), false);
});
