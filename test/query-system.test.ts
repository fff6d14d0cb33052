import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiClient, startWithEvents, type TestInlet } from './helpers/inlet.js';

// What SQL tools and dashboards read first: the databases (projects), tables and columns there are.
let inlet: TestInlet;
let stop: () => Promise<void>;

before(async () => {
  ({ inlet, stop } = await startWithEvents('system', 'timestamp,host,status,bytes,latency,cached\n2024-01-01 00:00:00,a.example.com,200,10,0.5,true\n'));
});
after(async () => stop?.());

async function rows(sql: string, api: ApiClient = inlet.api): Promise<string> {
  const answer = await api.query(sql);
  assert.equal(answer.status, 200, answer.text);
  return answer.text;
}

describe('system tables, of the caller org only', () => {
  test('system.databases: the projects, and system', async () => {
    assert.equal(await rows('SELECT name, engine FROM system.databases ORDER BY name'), 'system\tMemory\nwebsite\tAtomic\n');
    assert.equal(await rows('SHOW DATABASES'), 'system\nwebsite\n');
    assert.equal(await rows('-- what is there\n/* tools add comments */ show databases'), 'system\nwebsite\n');
  });

  test('system.tables: the tables, with their primary timestamp as the key', async () => {
    assert.equal(await rows("SELECT database, name, engine, primary_key FROM system.tables WHERE database = 'website'"), 'website\tevents\tMergeTree\ttimestamp\n');
    assert.equal(await rows('SHOW TABLES FROM website'), 'events\n');
    assert.equal(await rows("SHOW TABLES LIKE 'ev%'"), 'events\n');
    assert.equal(await rows("SELECT count() FROM system.tables WHERE database = 'system'"), '3\n');
  });

  test('system.columns and DESCRIBE: each column with the ClickHouse type a query answers', async () => {
    const expected = 'timestamp\tDateTime\t1\nhost\tNullable(String)\t0\nstatus\tNullable(UInt32)\t0\nbytes\tNullable(Int64)\t0\nlatency\tNullable(Float64)\t0\ncached\tNullable(UInt8)\t0\n';
    assert.equal(await rows("SELECT name, type, is_in_primary_key FROM system.columns WHERE database = 'website' AND table = 'events' ORDER BY position"), expected);
    const described = await rows('DESCRIBE TABLE website.events FORMAT TSVWithNames');
    assert.equal(described.split('\n')[0], 'name\ttype\tdefault_type\tdefault_expression\tcomment\tcodec_expression\tttl_expression');
    assert.deepEqual(
      described
        .split('\n')
        .slice(1, -1)
        .map((line) => line.split('\t').slice(0, 2).join('\t')),
      expected
        .trim()
        .split('\n')
        .map((line) => line.split('\t').slice(0, 2).join('\t')),
    );
    // The types system.columns names are those of a query's own answer.
    const meta = JSON.parse(await rows('SELECT * FROM website.events LIMIT 0 FORMAT JSON')).meta.map((m: { type: string }) => m.type);
    assert.deepEqual(
      meta,
      expected
        .trim()
        .split('\n')
        .map((line) => line.split('\t')[1]),
    );
  });

  test('another org sees its own projects only', async () => {
    const api = inlet.api;
    const org = (await api.request('POST', '/config/v1/orgs/', { name: 'other-org' })).body.uuid;
    assert.equal((await api.request('POST', '/config/v1/users/', { email: 'other@example.com', org, roles: ['admin'], password: 'pw-other' })).status, 201);
    const other = new ApiClient(api.url);
    await other.login({ username: 'other@example.com', password: 'pw-other' });
    assert.equal(await rows('SHOW DATABASES', other), 'system\n');
    assert.equal(await rows("SELECT count() FROM system.columns WHERE database <> 'system'", other), '0\n');
    assert.equal((await other.query('SELECT count() FROM website.events')).status, 400);
  });

  test("a project cannot take a name a query's DuckDB keeps for itself", async () => {
    for (const name of ['system', 'System', 'temp', 'information_schema', 'inlet_system']) {
      const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/projects/`, { name });
      assert.equal(created.status, 400, name);
      assert.match(created.body.detail, /is reserved: queries name system, temp/);
    }
  });

  test("DESCRIBE of a table that does not exist, or is another org's, is UNKNOWN_TABLE, as ClickHouse answers", async () => {
    for (const sql of ['DESCRIBE TABLE website.nothing', 'DESC nowhere.events']) {
      const answer = await inlet.api.query(sql);
      assert.equal(answer.status, 400, `${sql}: ${answer.text}`);
      assert.match(answer.text, /Code: 60\. .*doesn't exist \(UNKNOWN_TABLE\)/, sql);
    }
    assert.equal((await inlet.api.query('DESCRIBE system.tables')).status, 200);
  });

  test('SHOW and DESCRIBE of anything else are syntax errors', async () => {
    for (const sql of ['SHOW TABLES FROM', 'DESCRIBE website', 'SHOW TABLES FROM website WHERE x']) {
      const answer = await inlet.api.query(sql);
      assert.equal(answer.status, 400, sql);
      assert.match(answer.text, /SYNTAX_ERROR/, sql);
    }
  });
});
