import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { ADMIN, ApiClient, startInlet, type TestInlet } from './helpers/inlet.js';

const WINDOW_SECONDS = 3;
let inlet: TestInlet;

before(async () => {
  inlet = await startInlet({ workers: '0', loginMaxFailures: '5', loginMaxFailuresPerAddress: '12', loginWindowSeconds: String(WINDOW_SECONDS) });
});
after(async () => {
  await inlet?.stop();
});

test('20 wrong passwords in a row get 429s with Retry-After; the right password works after the window', async () => {
  const anonymous = new ApiClient(inlet.api.url);
  const statuses: number[] = [];
  let retryAfter: string | null = null;
  for (let i = 0; i < 20; i++) {
    const response = await fetch(`${inlet.api.url}/config/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: ADMIN.username, password: `guess ${i}` }),
    });
    statuses.push(response.status);
    if (response.status === 429) retryAfter = response.headers.get('retry-after');
    await response.text();
  }
  assert.deepEqual(statuses, [...Array(5).fill(401), ...Array(15).fill(429)]);
  assert.ok(retryAfter !== null && Number(retryAfter) >= 1 && Number(retryAfter) <= WINDOW_SECONDS, `Retry-After ${retryAfter}`);
  // Refused while the window lasts, even with the right password: a guesser learns nothing.
  const during = await anonymous.request('POST', '/config/v1/login', ADMIN);
  assert.equal(during.status, 429);
  assert.match(during.body.detail, /too many failed logins for this account/);
  // Basic auth on /query is a password check too, and is limited alike.
  const basic = await fetch(`${inlet.api.url}/query?query=SELECT%201`, { headers: { authorization: `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}` } });
  assert.equal(basic.status, 429);
  await basic.text();
  await delay(WINDOW_SECONDS * 1000 + 500);
  const afterWindow = await anonymous.request('POST', '/config/v1/login', ADMIN);
  assert.equal(afterWindow.status, 200, afterWindow.text);
});

test('one address guessing many accounts is limited per address', async () => {
  await delay(WINDOW_SECONDS * 1000 + 500);
  const anonymous = new ApiClient(inlet.api.url);
  const statuses: number[] = [];
  for (let i = 0; i < 14; i++) statuses.push((await anonymous.request('POST', '/config/v1/login', { username: `someone${i}@example.com`, password: 'x' })).status);
  assert.deepEqual(statuses, [...Array(12).fill(401), 429, 429]);
  const response = await anonymous.request('POST', '/config/v1/login', ADMIN);
  assert.equal(response.status, 429);
  assert.match(response.body.detail, /for this address/);
});

test('guesses sent all at once get no more tries than guesses sent one by one', async () => {
  await delay(WINDOW_SECONDS * 1000 + 500);
  // The per-account limit is 5: once every login was checked before any password was verified, and all 40 were tried.
  const guesses = Array.from({ length: 39 }, (_, i) => ({ username: ADMIN.username, password: `guess ${i}` }));
  const anonymous = new ApiClient(inlet.api.url);
  const statuses = await Promise.all([...guesses, ADMIN].map((body) => anonymous.request('POST', '/config/v1/login', body).then((r) => r.status)));
  assert.equal(statuses.filter((s) => s !== 429).length, 5, `${statuses}`);
  await delay(WINDOW_SECONDS * 1000 + 500);
  assert.equal((await anonymous.request('POST', '/config/v1/login', ADMIN)).status, 200);
});
