import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { SandboxPool } from '../src/query/sandbox.js';

test("a new pool removes sandbox directories of servers no longer running, and keeps its own process's", async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'inlet-sandboxes-'));
  try {
    for (const name of ['4194304999-crashed', 'legacy-uuid', `${process.pid}-mine`]) {
      mkdirSync(path.join(root, name, 'empty'), { recursive: true });
      writeFileSync(path.join(root, name, 'empty', '0.parquet'), '');
    }
    const pool = new SandboxPool({ threads: 1, memoryLimit: '128MB', tempRoot: root, maxSandboxes: 1, idleMs: 60_000 });
    assert.deepEqual(readdirSync(root), [`${process.pid}-mine`]);
    await pool.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
