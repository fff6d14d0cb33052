import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { openDuckDB } from '../src/duckdb/instances.js';
import { queryRows, withConnection } from '../src/duckdb/engine.js';
import { convertFiles, type FileAccount } from '../src/ingest/convert.js';
import { readGroups } from '../src/ingest/read-groups.js';
import { validateTransform } from '../src/transform/validate.js';
import { CSV_TRANSFORM, JSON_TRANSFORM } from './helpers/data.js';

const dir = mkdtempSync(path.join(tmpdir(), 'inlet-staged-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Converts the files as one task (many files in a read: staged) and each on its own (not staged). */
async function bothWays(settings: { type: string; settings: object }, files: string[]) {
  const { transform } = validateTransform(settings.type, settings.settings);
  const engine = await openDuckDB({ kind: 'worker-slot', threads: 2, memoryLimit: '256MB', tempDirectory: path.join(dir, 'spill'), allowedDirectories: [dir] });
  try {
    const together = await withConnection(engine, undefined, async (c) => {
      const chunk = await convertFiles({ connection: c, transform, groups: await readGroups(transform, files), fileCount: files.length, nowMs: 0 });
      const rows = await queryRows(c, `SELECT * FROM ${chunk.converted} ORDER BY rowid`);
      return { accounts: chunk.accounts, rows };
    });
    const alone: FileAccount[] = [];
    const rows: unknown[] = [];
    for (const [i, file] of files.entries()) {
      await withConnection(engine, undefined, async (c) => {
        const chunk = await convertFiles({ connection: c, transform, groups: await readGroups(transform, [file]), fileCount: 1, nowMs: 0 });
        alone.push(chunk.accounts[0]!);
        rows.push(...(await queryRows<Record<string, unknown>>(c, `SELECT * FROM ${chunk.converted} ORDER BY rowid`)).map((r) => ({ ...r, __inlet_file: i })));
      });
    }
    return { together, alone, rows };
  } finally {
    engine.closeSync();
  }
}

test('many small NDJSON files read through a staging table convert and account exactly as one by one', async () => {
  const files = Array.from({ length: 40 }, (_, f) => {
    const lines = Array.from({ length: 6 }, (_, i) => JSON.stringify({ ts: Date.UTC(2024, 0, 1) + f * 1000 + i, host: `h${f}`, status: 200 + i, bytes: i, latency: 1.5, cached: i % 2 === 0 }));
    if (f % 3 === 0) lines.splice(2, 0, '{"ts": not json');
    if (f % 5 === 0) lines.push(JSON.stringify({ ts: 'soon', host: 'x' }));
    const file = path.join(dir, `small-${f}.json`);
    writeFileSync(file, lines.join('\n') + '\n');
    return file;
  });
  const { together, alone, rows } = await bothWays(JSON_TRANSFORM, files);
  assert.deepEqual(together.accounts, alone);
  assert.deepEqual(together.rows, rows);
  assert.equal(
    together.accounts.reduce((sum, a) => sum + a.rowsRejected, 0),
    14 + 8,
  );
  assert.deepEqual(
    together.accounts[3]!.rejects.map((r) => r.line),
    [3],
  );
});

test('many small CSV files, with lines the reader refuses, account exactly as one by one', async () => {
  const files = Array.from({ length: 36 }, (_, f) => {
    const lines = ['timestamp,host,status,bytes,latency,cached', ...Array.from({ length: 5 }, (_, i) => `2024-01-01 00:${String(f).padStart(2, '0')}:0${i},h${f},200,${i},1.5,true`)];
    if (f % 4 === 0) lines.splice(3, 0, 'too,few,fields');
    if (f % 6 === 0) lines.push('garbage,h,x,1,1,1');
    const file = path.join(dir, `small-${f}.csv`);
    writeFileSync(file, lines.join('\n') + '\n');
    return file;
  });
  const { together, alone, rows } = await bothWays(CSV_TRANSFORM, files);
  assert.deepEqual(together.accounts, alone);
  assert.deepEqual(together.rows, rows);
  assert.deepEqual(
    together.accounts[4]!.rejects.map((r) => r.line),
    [4],
  );
});
