import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../src/auth/password.js';
import { createOrgWithUser } from '../src/catalog/accounts.js';
import { ApiClient, startInlet, type TestInlet } from './helpers/inlet.js';

/** Runs for minutes unless interrupted; the timeout only bounds a broken build's test run. */
const HEAVY = 'SELECT sum(hash(range)) FROM range(1000000000000) SETTINGS hdx_query_max_execution_time = 60';

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly body: any;
  readonly ms: number;
}

/**
 * POSTs SQL on a connection of its own, closed after the answer (no keep-alive socket left to
 * hold the server's close); aborting `hangUp` drops the connection, as a client that goes away.
 */
function query(api: ApiClient, sql: string, hangUp?: AbortSignal): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(`${api.url}/query`, { method: 'POST', agent: false, headers: { authorization: `Bearer ${api.token}`, 'content-type': 'text/plain' }, signal: hangUp }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // Plain-text answers stay text.
        }
        resolve({ status: res.statusCode!, text, body, ms: performance.now() - started });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(sql);
  });
}

/** POSTs SQL and counts the answer's bytes without keeping them. */
function drain(api: ApiClient, sql: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${api.url}/query`, { method: 'POST', agent: false, headers: { authorization: `Bearer ${api.token}`, 'content-type': 'text/plain' } }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => resolve({ status: res.statusCode!, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(sql);
  });
}

/** A heavy query held open until `hangUp` aborts. */
const hold = (api: ApiClient, hangUp: AbortController) => query(api, HEAVY, hangUp.signal).catch(() => undefined);

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('abandoned queries', () => {
  let inlet: TestInlet;
  before(async () => {
    inlet = await startInlet({ workers: '0', queryConcurrency: '2', queryOrgConcurrency: '2' });
  });
  after(async () => {
    await inlet?.stop();
  });

  test('three heavy queries whose clients hang up are interrupted: SELECT 42 answers at once', async () => {
    const clients = [0, 1, 2].map(() => new AbortController());
    const heavy = clients.map((abort) => hold(inlet.api, abort));
    // Long enough for two to be running in DuckDB and the third to wait for a slot.
    await delay(1500);
    for (const abort of clients) abort.abort();
    await Promise.all(heavy);
    const answer = await query(inlet.api, 'SELECT 42');
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.text, '42\n');
    // Far below the minute the heavy queries would run, with room for a loaded machine.
    assert.ok(answer.ms < 5000, `SELECT 42 took ${answer.ms.toFixed(0)} ms`);
  });
});

describe('the query queue', () => {
  let inlet: TestInlet;
  let other: ApiClient;
  before(async () => {
    inlet = await startInlet({ workers: '0', queryConcurrency: '1', queryOrgConcurrency: '1', queryQueue: '2', queryOrgQueue: '1' });
    await createOrgWithUser(inlet.service.catalog.db, 'other', 'other@example.com', await hashPassword('pw'));
    other = new ApiClient(inlet.api.url);
    await other.login({ username: 'other@example.com', password: 'pw' });
  });
  after(async () => {
    await inlet?.stop();
  });

  test('an org past its queue gets 429, everyone past the server queue 503, in ClickHouse shape', async () => {
    const clients: AbortController[] = [];
    const holdOne = (api: ApiClient) => {
      const abort = new AbortController();
      clients.push(abort);
      return hold(api, abort);
    };
    try {
      const held = [holdOne(inlet.api)];
      await delay(300);
      held.push(holdOne(inlet.api));
      await delay(300);
      // Running 1 of 1, the org's one waiting place taken.
      const orgFull = await query(inlet.api, 'SELECT 1');
      assert.equal(orgFull.status, 429, orgFull.text);
      assert.equal(orgFull.body.query, 'SELECT 1');
      assert.match(
        orgFull.body.error,
        /^Code: 202\. DB::Exception: Too many simultaneous queries: this org has 1 running \(INLET_QUERY_ORG_CONCURRENCY=1\) and 1 waiting \(INLET_QUERY_ORG_QUEUE=1\); .*\(TOO_MANY_SIMULTANEOUS_QUERIES\)$/,
      );
      held.push(holdOne(other));
      await delay(300);
      // Two waiting: the server's queue is full, whoever asks.
      const serverFull = await query(other, 'SELECT 2');
      assert.equal(serverFull.status, 503, serverFull.text);
      assert.match(
        serverFull.body.error,
        /^Code: 202\. DB::Exception: Too many simultaneous queries: the server has 1 running \(INLET_QUERY_CONCURRENCY=1\) and 2 waiting \(INLET_QUERY_QUEUE=2\); .*\(TOO_MANY_SIMULTANEOUS_QUERIES\)$/,
      );
      for (const abort of clients) abort.abort();
      await Promise.all(held);
      // The waiting ones left the queue with their clients, the running one was interrupted.
      const after = await query(other, 'SELECT 3');
      assert.equal(after.text, '3\n');
      assert.ok(after.ms < 5000, `SELECT 3 took ${after.ms.toFixed(0)} ms`);
    } finally {
      for (const abort of clients) abort.abort();
    }
  });
});

/** A process's memory figure from /proc, in MiB. */
function statusMb(pid: number | 'self', field: 'VmRSS' | 'VmHWM'): number {
  const kb = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

describe('memory', () => {
  let inlet: TestInlet;
  before(async () => {
    inlet = await startInlet({ workers: '0', queryProcessMemoryMb: '2048' });
  });
  after(async () => {
    await inlet?.stop();
  });

  test('a query building gigabytes of strings fails naming the limit, and the API process stays small', async () => {
    // This server (the API) runs in the test's own process.
    const before = statusMb('self', 'VmRSS');
    const answer = await query(inlet.api, "SELECT length(repeat('x', 2000000000) || repeat('y', 2000000000))");
    assert.equal(answer.status, 400, answer.text);
    assert.match(answer.body.error, /^Code: 241\. DB::Exception: Out of Memory Error: .*INLET_QUERY_PROCESS_MEMORY_MB=2048 .*\(MEMORY_LIMIT_EXCEEDED\)$/);
    const peak = statusMb('self', 'VmHWM');
    // The strings alone are 8 GB; the API process never holds them, whatever else this test process allocated.
    assert.ok(peak < before + 1024, `API process peak RSS ${peak.toFixed(0)} MiB (${before.toFixed(0)} MiB before the query)`);
    const next = await query(inlet.api, 'SELECT 42');
    assert.equal(next.text, '42\n', 'the query process answers the next query');
  });

  test('one huge value reaches the client in pieces: the API process never holds it whole', async () => {
    // Resets this process's peak RSS (VmHWM), so the peak below is this query's alone.
    writeFileSync('/proc/self/clear_refs', '5');
    const before = statusMb('self', 'VmRSS');
    const { status, bytes } = await drain(inlet.api, "SELECT repeat('x', 100000000) || 'é' AS v");
    assert.equal(status, 200);
    assert.equal(bytes, 100_000_000 + 2 + 1);
    const peak = statusMb('self', 'VmHWM');
    // Garbage not yet collected counts too: the whole value would add several times its 100 MB.
    assert.ok(peak < before + 192, `API process peak RSS ${peak.toFixed(0)} MiB (${before.toFixed(0)} MiB before the query)`);
  });

  test('a query process that dies is restarted; the API answers 503 meanwhile, never crashes', async () => {
    const children = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    const queryProcess = children.find((pid) => readFileSync(`/proc/${pid}/environ`, 'utf8').includes('INLET_QUERY_CONFIG='));
    assert.ok(queryProcess, 'the query process is a child of the API process');
    assert.ok(statusMb(queryProcess, 'VmRSS') > 0);
    const running = query(inlet.api, 'SELECT sum(hash(range)) FROM range(1000000000000) SETTINGS hdx_query_max_execution_time = 60');
    await delay(500);
    process.kill(queryProcess, 'SIGKILL');
    const lost = await running;
    assert.equal(lost.status, 503, lost.text);
    assert.match(lost.body.error, /^Code: 241\. DB::Exception: The query process ended .*INLET_QUERY_PROCESS_MEMORY_MB=2048.*\(MEMORY_LIMIT_EXCEEDED\)$/);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const answer = await query(inlet.api, 'SELECT 42');
      if (answer.status === 200) {
        assert.equal(answer.text, '42\n');
        break;
      }
      assert.equal(answer.status, 503, answer.text);
      assert.ok(Date.now() < deadline, 'the query process came back');
      await delay(200);
    }
  });
});
