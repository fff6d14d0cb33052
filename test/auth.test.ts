import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { ADMIN, ApiClient, startInlet, type TestInlet } from './helpers/inlet.js';

let inlet: TestInlet;

before(async () => {
  // The timing test fails many logins on purpose: limits high enough that they never answer 429.
  inlet = await startInlet({ workers: '0', loginMaxFailures: '10000', loginMaxFailuresPerAddress: '10000' });
});
after(async () => {
  await inlet?.stop();
});

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('login', () => {
  test('a wrong password and an unknown user take the same time', async () => {
    const anonymous = new ApiClient(inlet.api.url);
    const attempt = async (username: string) => {
      const started = performance.now();
      const response = await anonymous.request('POST', '/config/v1/login', { username, password: 'not the password' });
      assert.equal(response.status, 401);
      return performance.now() - started;
    };
    await attempt(ADMIN.username);
    await attempt('nobody@example.com');
    // Interleaved, each kind first in turn, so load from other processes falls on both alike;
    // medians ignore stalls. A loaded machine can still skew one round: up to three are measured,
    // while without the same work the two differ many times over in every round.
    const rounds: string[] = [];
    for (let round = 0; round < 3; round++) {
      const known: number[] = [];
      const unknown: number[] = [];
      for (let i = 0; i < 15; i++) {
        const pair = [() => attempt(ADMIN.username).then((ms) => known.push(ms)), () => attempt(`nobody${i}@example.com`).then((ms) => unknown.push(ms))];
        if (i % 2 === 1) pair.reverse();
        for (const run of pair) await run();
      }
      const [k, u] = [median(known), median(unknown)];
      rounds.push(`known user ${k.toFixed(1)} ms, unknown user ${u.toFixed(1)} ms`);
      if (Math.abs(k - u) <= 0.2 * Math.max(k, u)) return;
    }
    assert.fail(`median login times differ by more than 20 % in every round: ${rounds.join('; ')}`);
  });
});

describe('logout', () => {
  test('POST /config/v1/logout revokes the caller token, and only it', async () => {
    const session = new ApiClient(inlet.api.url);
    await session.login();
    const other = new ApiClient(inlet.api.url);
    await other.login();
    // Used once first, so the server has the token in its cache of verified tokens.
    assert.equal((await session.request('GET', '/config/v1/orgs')).status, 200);
    const out = await session.request('POST', '/config/v1/logout');
    assert.equal(out.status, 204, out.text);
    const after = await session.request('GET', '/config/v1/orgs');
    assert.equal(after.status, 401);
    assert.match(after.body.detail, /not valid: log in again/);
    assert.equal((await session.query('SELECT 1')).status, 401);
    assert.equal((await session.request('POST', '/config/v1/logout')).status, 401);
    assert.equal((await other.request('GET', '/config/v1/orgs')).status, 200);
    assert.equal((await new ApiClient(inlet.api.url).request('POST', '/config/v1/logout')).status, 401);
  });
});

describe('a full catalog', () => {
  test('login answers 503 with the reason, not 500, and works again once there is space', async () => {
    const full = await startInlet({ workers: '0' });
    try {
      const db = full.service.catalog.db;
      // SQLite's own limit on the file's pages fails writes with SQLITE_FULL, as a full disk does.
      const { rows } = await sql<{ page_count: number }>`PRAGMA page_count`.execute(db);
      await sql.raw(`PRAGMA max_page_count = ${rows[0]!.page_count}`).execute(db);
      const client = new ApiClient(full.api.url);
      let answer;
      // Each login stores a session: the free room in the last pages runs out within a few hundred.
      for (let i = 0; i < 1000; i++) {
        answer = await client.request('POST', '/config/v1/login', ADMIN);
        if (answer.status !== 200) break;
      }
      assert.equal(answer!.status, 503, answer!.text);
      assert.match(answer!.body.detail, /^storage is full \(SQLITE_FULL\): free disk space on the server/);
      await sql.raw('PRAGMA max_page_count = 1073741823').execute(db);
      assert.equal((await client.request('POST', '/config/v1/login', ADMIN)).status, 200);
    } finally {
      await full.stop();
    }
  });
});
