import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { loadConfig } from '../src/config/config.js';
import { RunningQuery } from '../src/query/running.js';
import type { Lease } from '../src/query/sandbox.js';

// DuckDB cannot be made to ignore an interrupt on purpose (the functions that do are refused),
// so the lease is a stand-in whose interrupt is heard or not, as the test says.
function leaseThat(stops: boolean, fetching: { resolve?: () => void }) {
  let interrupts = 0;
  const lease = {
    connection: {
      interrupt: () => {
        interrupts++;
        if (stops) fetching.resolve?.();
      },
    },
    inTransaction: false,
    release: () => Promise.resolve(),
  } as unknown as Lease;
  return { lease, interrupts: () => interrupts };
}

async function run(stops: boolean) {
  const fetching: { resolve?: () => void } = {};
  const { lease, interrupts } = leaseThat(stops, fetching);
  const stuck: RunningQuery[] = [];
  let slots = 0;
  const query = new RunningQuery(lease, () => slots++, 0.05, performance.now(), loadConfig({}), undefined, { graceMs: 150, onStuck: (q) => stuck.push(q) });
  // A chunk DuckDB is computing: it settles only when the interrupt is heard.
  void query.fetch(new Promise<void>((resolve) => (fetching.resolve = resolve)));
  await delay(80);
  assert.equal(interrupts(), 1, 'the timeout interrupts DuckDB');
  query.close();
  await delay(300);
  return { stuck, slots, query };
}

test('a query DuckDB stops after the interrupt frees its slot and is never taken as stuck', async () => {
  const { stuck, slots } = await run(true);
  assert.equal(slots, 1);
  assert.deepEqual(stuck, []);
});

test('a query DuckDB does not stop keeps its slot, and is reported stuck once the grace is over', async () => {
  const { stuck, slots, query } = await run(false);
  assert.equal(slots, 0);
  assert.deepEqual(stuck, [query]);
});
