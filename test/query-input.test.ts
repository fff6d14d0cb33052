import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startInlet, type TestInlet } from './helpers/inlet.js';

// Input an outside probe sent to /query that answered 500 (or timed out at once): each must be
// a 400 in ClickHouse's shape, or work, and leave the server answering the next query.
let inlet: TestInlet;

before(async () => {
  inlet = await startInlet({ workers: '0' });
});
after(async () => {
  await inlet?.stop();
});

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly error: string | undefined;
  readonly code: string | null;
  readonly queryId: string | null;
}

async function ask(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(`${inlet.api.url}${url}`, { ...init, headers: { authorization: `Bearer ${inlet.api.token}`, 'content-type': 'text/plain', ...init.headers } });
  const text = await response.text();
  let error: string | undefined;
  try {
    error = (JSON.parse(text) as { error?: string }).error;
  } catch {
    // Answers that are not errors are plain text.
  }
  return { status: response.status, text, error, code: response.headers.get('x-clickhouse-exception-code'), queryId: response.headers.get('x-clickhouse-query-id') };
}

const post = (sql: string, url = '/query', headers: Record<string, string> = {}) => ask(url, { method: 'POST', body: sql, headers });
const get = (query: string) => ask(`/query?${query}`);

async function stillAnswers(): Promise<void> {
  const next = await post('SELECT 42');
  assert.equal(next.text, '42\n', 'the next query is answered');
}

describe('a NUL byte in the query', () => {
  test('in a string literal of a POST body: a 400 SYNTAX_ERROR naming its position', async () => {
    const answer = await post("SELECT 'a\0b'");
    assert.equal(answer.status, 400, answer.text);
    assert.equal(answer.code, '62');
    assert.match(answer.error!, /^Code: 62\. DB::Exception: Syntax error: failed at position 10 \(line 1, col 10\) \(SELECT 'a\\0b'\): the query holds a NUL byte .*may not contain one.*\(SYNTAX_ERROR\)$/);
    await stillAnswers();
  });

  test('in ?query= as %00, in a quoted name, after a newline, in a comment', async () => {
    const byUrl = await get(`query=${encodeURIComponent("SELECT 'a\0b'")}`);
    assert.equal(byUrl.status, 400, byUrl.text);
    assert.match(byUrl.error!, /position 10 .*NUL byte.*\(SYNTAX_ERROR\)$/);
    const name = await post('SELECT 1 AS "a\0b"');
    assert.equal(name.status, 400, name.text);
    assert.match(name.error!, /position 15 \(line 1, col 15\).*\(SYNTAX_ERROR\)$/);
    const second = await post('SELECT 1\nFROM "x\0"');
    assert.match(second.error!, /position 17 \(line 2, col 8\)/);
    // DuckDB would read up to the NUL and run the rest unseen: refused wherever it is.
    const comment = await post('SELECT 1 -- \0 FORMAT JSON');
    assert.equal(comment.status, 400, comment.text);
    assert.match(comment.error!, /NUL byte.*\(SYNTAX_ERROR\)$/);
    await stillAnswers();
  });

  test('a query parameter holding one binds it as data: a String keeps it, other types refuse it', async () => {
    const raw = await post('SELECT {s:String} AS v', `/query?param_s=${encodeURIComponent('a\0b')}`);
    assert.equal(raw.status, 200, raw.text);
    // TabSeparated writes a NUL as \0.
    assert.equal(raw.text, 'a\\0b\n');
    const escaped = await post('SELECT length({s:String}) AS n, {a:Array(String)} AS a FORMAT JSONEachRow', `/query?param_s=${encodeURIComponent('\\0x\\0')}&param_a=${encodeURIComponent("['\\0','y']")}`);
    assert.equal(escaped.status, 200, escaped.text);
    assert.deepEqual(JSON.parse(escaped.text), { n: '3', a: ['\0', 'y'] });
    const name = await post('SELECT 1 AS {c:Identifier}', `/query?param_c=${encodeURIComponent('a\0b')}`);
    assert.equal(name.status, 400, name.text);
    assert.match(name.error!, /^Code: 36\. DB::Exception: Query parameter param_c=a\0b is not a valid Identifier: .*NUL.*\(BAD_ARGUMENTS\)$/);
    // DuckDB would read the date up to the NUL and answer it.
    const date = await post('SELECT {d:Date}', `/query?param_d=${encodeURIComponent('2024-01-01\\0')}`);
    assert.equal(date.status, 400, date.text);
    assert.match(date.error!, /^Code: 36\. DB::Exception: Query parameter param_d=2024-01-01\\0 is not a valid Date: a Date may not hold a NUL byte \(BAD_ARGUMENTS\)$/);
    await stillAnswers();
  });
});

describe('a statement too large for the parser', () => {
  test('10,000 SELECTs under UNION ALL, or an 18,000-term AND chain: a 400 MEMORY_LIMIT_EXCEEDED, and the parser still works', async () => {
    const union = Array.from({ length: 10_000 }, (_, i) => `SELECT ${i}`).join(' UNION ALL ');
    const chain = `SELECT 1 FROM (SELECT 1 AS a) WHERE ${Array.from({ length: 18_000 }, () => 'a = 1').join(' AND ')}`;
    for (const sql of [union, chain]) {
      const answer = await post(sql);
      assert.equal(answer.status, 400, answer.text.slice(0, 300));
      assert.equal(answer.code, '241');
      assert.match(answer.error!, /^Code: 241\. DB::Exception: The statement is too complex to parse: .*Out of Memory Error.*\(MEMORY_LIMIT_EXCEEDED\)$/);
    }
    await stillAnswers();
  });
});

describe('query_id', () => {
  test('anything but printable ASCII, or past 256 characters, is a 400 naming query_id before the query is even parsed', async () => {
    for (const id of ['%00', '%0A', 'a%0Db', '%C4%80', '%E2%82%AC', '%7F', 'x'.repeat(257)]) {
      const answer = await get(`query=SELEC+1&query_id=${id}`);
      assert.equal(answer.status, 400, `${id}: ${answer.text}`);
      assert.equal(answer.code, '36');
      assert.match(answer.error!, /^Code: 36\. DB::Exception: query_id=.* is not valid: .*printable ASCII.*at most 256.*\(BAD_ARGUMENTS\)$/, id);
    }
    const long = await get(`query=SELEC+1&query_id=${'x'.repeat(1000)}`);
    assert.ok(long.error!.length < 400, `the value is shortened in the message: ${long.error}`);
  });

  test('printable ASCII, spaces and punctuation included, is answered back', async () => {
    const id = `my query #1 ~ (a/b) ${'x'.repeat(236)}`;
    const answer = await get(`query=SELECT+1&query_id=${encodeURIComponent(id)}`);
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.queryId, id);
  });
});

describe('max_execution_time past what a timer can hold', () => {
  // Long enough that a timer fired at once would interrupt it.
  const SLOW = 'SELECT count() FROM (SELECT hash(range) FROM range(20000000))';

  test('a huge limit is no limit, from the SETTINGS clause, the URL or the header', async () => {
    const asked = [
      post(`${SLOW} SETTINGS max_execution_time = 2147484`),
      post(`${SLOW} SETTINGS hdx_query_max_execution_time = 1e308`),
      post(SLOW, '/query?max_execution_time=99999999999999999999'),
      post(SLOW, '/query', { 'x-hdx-query-settings': 'hdx_query_max_execution_time=4294967296' }),
    ];
    for (const answer of await Promise.all(asked)) {
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.text, '20000000\n');
    }
  });

  test('a limit a timer can hold still interrupts; invalid numbers are still refused', async () => {
    const limited = await post('SELECT count() FROM range(100000000000) SETTINGS max_execution_time = 0.2');
    assert.equal(limited.status, 400, limited.text);
    assert.match(limited.error!, /^Code: 159\. DB::Exception: Timeout exceeded: elapsed .* seconds, maximum: 0\.2 \(TIMEOUT_EXCEEDED\)$/);
    for (const value of ['-1', 'abc', 'NaN', '1e309', '']) {
      const answer = await post('SELECT 1', `/query?max_execution_time=${value}`);
      assert.equal(answer.status, 400, `${value}: ${answer.text}`);
      assert.match(answer.error!, /^Code: 36\. DB::Exception: Setting max_execution_time=.* is not valid: use a number of seconds >= 0 \(0 is no limit\) \(BAD_ARGUMENTS\)$/);
    }
  });
});
