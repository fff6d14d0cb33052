import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runMatrix } from '../bench/scenarios/matrix.js';
import { SHAPES } from '../bench/lib/shapes.js';
import { stageTable } from '../bench/report.js';

// The bench's shape matrix in its smallest form: no speed is asserted, only that every shape
// loads through Inlet and through DuckDB alone, with the same row counts on both sides.
test('every shape of the bench matrix loads, with the same rows on both sides', { timeout: 600_000 }, async () => {
  const workDir = mkdtempSync(path.join(tmpdir(), 'inlet-matrix-'));
  try {
    const results = await runMatrix(workDir, { rowsPerShape: 2_000, runs: 1, fromSources: true });
    assert.deepEqual(
      results.map((r) => r.shape.slug),
      SHAPES.map((s) => s.slug),
    );
    for (const r of results) {
      assert.ok(r.expectedRows > 0, r.shape.slug);
      assert.deepEqual(r.inletRows, [r.expectedRows], `${r.shape.slug}: Inlet's rows`);
      assert.deepEqual(r.baselineRows, [r.expectedRows], `${r.shape.slug}: DuckDB alone's rows`);
      const stages = r.rows.find((row) => row.stages)?.stages;
      assert.ok(stages && stages.inlet.convertMs > 0 && stages.duckdb.readConvertMs > 0, `${r.shape.slug}: both sides' stages were measured`);
    }
    const rejects = results.find((r) => r.shape.rejectOneIn > 0)!;
    assert.equal(rejects.expectedRows, 2_000 - 100);
    assert.equal(stageTable(results.flatMap((r) => r.rows)).split('\n').length, 2 + SHAPES.length);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
});
