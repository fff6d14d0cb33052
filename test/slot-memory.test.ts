import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/log.js';
import { SlotMemory } from '../src/worker/slot-memory.js';

const engines = await Promise.all([DuckDBInstance.create(':memory:'), DuckDBInstance.create(':memory:')]);
after(() => engines.forEach((e) => e.closeSync()));

async function limitOf(engine: DuckDBInstance): Promise<string> {
  const connection = await engine.connect();
  try {
    return String((await connection.runAndReadAll("SELECT current_setting('memory_limit') AS m")).getRowObjectsJson()[0]!['m']);
  } finally {
    connection.closeSync();
  }
}

/** What DuckDB shows for a limit of `mb` megabytes. */
async function shown(mb: number): Promise<string> {
  const reference = await DuckDBInstance.create(':memory:', { memory_limit: `${mb}MB` });
  try {
    return await limitOf(reference);
  } finally {
    reference.closeSync();
  }
}

test('busy slots split the shared budget: a task alone gets all of it, a second halves it, and the first grows back when the second ends', async () => {
  const memory = new SlotMemory(1024, createLogger('silent'));
  const [a, b] = engines as [DuckDBInstance, DuckDBInstance];
  await memory.acquire(a);
  assert.equal(await limitOf(a), await shown(1024));
  await memory.acquire(b);
  assert.equal(memory.shareMb(), 512);
  assert.equal(await limitOf(a), await shown(512));
  assert.equal(await limitOf(b), await shown(512));
  await memory.release(a);
  assert.equal(await limitOf(b), await shown(1024));
  await memory.release(b);
  assert.equal(memory.shareMb(), 1024);
});

test('the budget is shared only when no per-slot limit is configured', () => {
  assert.equal(loadConfig({}, { workers: '2' }).duckdbMemoryBudgetMb, 1024);
  assert.equal(loadConfig({}, { workers: '8' }).duckdbMemoryBudgetMb, 2048, 'each of 8 slots keeps its 256MB floor');
  assert.equal(loadConfig({}, { workers: '2', duckdbMemoryLimit: '300MB' }).duckdbMemoryBudgetMb, undefined);
});
