import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { RefreshingCache } from '../src/ttl-cache.js';

test('one computation at a time serves every caller; a recent value is answered while a newer one is computed', async () => {
  const cache = new RefreshingCache<string, number>(10, 30, 400);
  let runs = 0;
  let release = () => {};
  const compute = () => {
    runs++;
    return new Promise<number>((resolve) => (release = () => resolve(runs)));
  };
  const first = [cache.get('a', compute), cache.get('a', compute), cache.get('a', compute)];
  release();
  assert.deepEqual(await Promise.all(first), [1, 1, 1]);
  assert.equal(await cache.get('a', compute), 1, 'fresh: reused');
  await delay(50);
  // Stale but recent: answered at once, while one recomputation starts.
  assert.equal(await cache.get('a', compute), 1);
  assert.equal(await cache.get('a', compute), 1);
  assert.equal(runs, 2);
  release();
  await delay(5);
  assert.equal(await cache.get('a', compute), 2);
});

test('a value older than the stale limit is recomputed before answering, and failures reach the caller', async () => {
  const cache = new RefreshingCache<string, number>(10, 10, 30);
  let value = 1;
  assert.equal(await cache.get('k', async () => value), 1);
  value = 2;
  await delay(50);
  assert.equal(await cache.get('k', async () => value), 2);
  await assert.rejects(
    cache.get('missing', async () => Promise.reject(new Error('not found'))),
    /not found/,
  );
  assert.equal(await cache.get('missing', async () => 7), 7, 'a failure is not kept');
  cache.delete('k');
  assert.equal(await cache.get('k', async () => 3), 3);
});
