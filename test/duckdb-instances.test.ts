import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { isOutOfMemory, isUsable, memoryUse, queryRows, stopsInstance, withConnection, withStoppableConnection } from '../src/duckdb/engine.js';
import { openDuckDB, sealStatements } from '../src/duckdb/instances.js';

const dir = mkdtempSync(path.join(tmpdir(), 'inlet-instances-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const allowed = path.join(dir, 'allowed');
mkdirSync(allowed);
writeFileSync(path.join(allowed, 'in.csv'), 'a\n1\n');
writeFileSync(path.join(dir, 'out.csv'), 'a\n2\n');

async function settings(instance: DuckDBInstance): Promise<Record<string, unknown>> {
  const connection = await instance.connect();
  try {
    const names = ['enable_external_access', 'lock_configuration', 'threads', 'memory_limit', 'preserve_insertion_order', 'disabled_optimizers', 'autoload_known_extensions', 'autoinstall_known_extensions'];
    const [row] = await queryRows(connection, `SELECT ${names.map((n) => `current_setting('${n}')::VARCHAR AS ${n}`).join(', ')}`);
    return row!;
  } finally {
    connection.closeSync();
  }
}

/** What a statement does on a fresh connection of the instance: its rows, or its error's first line. */
async function attempt(instance: DuckDBInstance, sql: string): Promise<unknown> {
  const connection = await instance.connect();
  try {
    return await queryRows(connection, sql);
  } catch (err) {
    return (err as Error).message.split('\n')[0];
  } finally {
    connection.closeSync();
  }
}

test('a worker slot converts in file order, without extensions, and reaches only its allowed directories, for good', async () => {
  const instance = await openDuckDB({ kind: 'worker-slot', threads: 2, memoryLimit: '128MB', tempDirectory: path.join(dir, 'spill'), allowedDirectories: [allowed] });
  try {
    const s = await settings(instance);
    assert.equal(s.enable_external_access, 'false');
    assert.equal(s.threads, '2');
    assert.equal(s.preserve_insertion_order, 'true');
    assert.match(String(s.disabled_optimizers), /common_subexpressions/);
    assert.equal(s.autoload_known_extensions, 'false');
    assert.equal(s.autoinstall_known_extensions, 'false');
    assert.deepEqual(await attempt(instance, `SELECT a FROM read_csv('${allowed}/in.csv')`), [{ a: 1n }]);
    assert.match(String(await attempt(instance, `SELECT a FROM read_csv('${dir}/out.csv')`)), /Permission Error/);
    assert.match(String(await attempt(instance, 'SET enable_external_access = true')), /Cannot enable external access/);
  } finally {
    instance.closeSync();
  }
});

test('a validator instance is a one-thread worker slot that reaches its own directory only', async () => {
  const instance = await openDuckDB({ kind: 'validator', memoryLimit: '128MB', directory: allowed });
  try {
    const s = await settings(instance);
    assert.equal(s.threads, '1');
    assert.equal(s.enable_external_access, 'false');
    assert.equal(s.preserve_insertion_order, 'true');
    assert.deepEqual(await attempt(instance, `SELECT a FROM read_csv('${allowed}/in.csv')`), [{ a: 1n }]);
    assert.match(String(await attempt(instance, `SELECT a FROM read_csv('${dir}/out.csv')`)), /Permission Error/);
  } finally {
    instance.closeSync();
  }
});

test('the parser and the sql-check instances reach no file, and the parser cannot be reconfigured', async () => {
  const parser = await openDuckDB({ kind: 'parser' });
  const check = await openDuckDB({ kind: 'sql-check' });
  try {
    for (const instance of [parser, check]) {
      const s = await settings(instance);
      assert.equal(s.enable_external_access, 'false');
      assert.equal(s.threads, '1');
      assert.equal(s.autoload_known_extensions, 'false');
      assert.match(String(await attempt(instance, `SELECT a FROM read_csv('${allowed}/in.csv')`)), /Permission Error/);
    }
    assert.equal((await settings(parser)).lock_configuration, 'true');
    assert.match(String(await attempt(parser, "SET memory_limit = '1GB'")), /configuration has been locked/i);
  } finally {
    parser.closeSync();
    check.closeSync();
  }
});

test('a query sandbox opens unsealed, and its seal leaves only the given directories readable and the configuration locked', async () => {
  const instance = await openDuckDB({ kind: 'query-sandbox', threads: 1, memoryLimit: '128MB', tempDirectory: path.join(dir, 'sandbox-spill') });
  try {
    assert.equal((await settings(instance)).enable_external_access, 'true');
    const connection = await instance.connect();
    try {
      await connection.run(sealStatements([allowed], { lockConfiguration: true }).join(';\n'));
    } finally {
      connection.closeSync();
    }
    const s = await settings(instance);
    assert.equal(s.enable_external_access, 'false');
    assert.equal(s.lock_configuration, 'true');
    assert.deepEqual(await attempt(instance, `SELECT a FROM read_csv('${allowed}/in.csv')`), [{ a: 1n }]);
    assert.match(String(await attempt(instance, `SELECT a FROM read_csv('${allowed}/../out.csv')`)), /Permission Error/);
  } finally {
    instance.closeSync();
  }
});

test('sealing quotes a directory holding a quote, and a directory is allowed as a whole, not as a name prefix', () => {
  const [allowedDirs] = sealStatements(["/tmp/it's", '/data/a/'], { lockConfiguration: false });
  assert.equal(allowedDirs, "SET allowed_directories = ['/tmp/it''s/', '/data/a/']");
  assert.equal(sealStatements([], { lockConfiguration: false }).length, 2);
});

test('memoryUse reads the limit as DuckDB shows it, and tells held rows from spilled ones; isOutOfMemory knows its error', async () => {
  for (const [limit, bytes] of [
    ['64MB', 64e6],
    ['2GB', 2e9],
  ] as const) {
    const engine = await openDuckDB({ kind: 'worker-slot', threads: 1, memoryLimit: limit, tempDirectory: path.join(dir, `spill-${limit}`), allowedDirectories: [allowed] });
    try {
      await withConnection(engine, undefined, async (c) => {
        const empty = await memoryUse(c);
        // DuckDB shows one decimal of its binary unit (2 GB as 1.8 GiB): near enough for a guard.
        assert.ok(Math.abs(empty.limit! - bytes) < bytes * 0.05, `${limit} read as ${empty.limit}`);
        assert.equal(empty.spilled, 0);
        // Rows past the limit: held up to it, the rest spilled to the temp directory.
        await c.run(`CREATE TEMP TABLE filler AS SELECT range AS i, repeat('x', 100) || range AS s FROM range(${limit === '64MB' ? 2_000_000 : 10_000})`);
        const full = await memoryUse(c);
        assert.ok(full.used > empty.used, 'the rows are held');
        if (limit === '64MB') assert.ok(full.spilled > 0, 'rows past the limit are spilled');
        else assert.equal(full.spilled, 0);
        const refused = await c.run(`SELECT list(s) FROM filler`).then(
          () => undefined,
          (err: unknown) => err,
        );
        if (limit === '64MB') assert.ok(isOutOfMemory(refused), String(refused));
      });
    } finally {
      engine.closeSync();
    }
  }
});

test('a stoppable connection stops its work whether the stop lands inside a statement or between two', async () => {
  const instance = await openDuckDB({ kind: 'validator', memoryLimit: '256MB', directory: allowed });
  try {
    // Many short statements: most of the time no statement is running, and DuckDB forgets an
    // interrupt made then; withConnection's one interrupt would let the loop run to its end.
    const stop = new AbortController();
    let ran = 0;
    setTimeout(() => stop.abort(), 100);
    await assert.rejects(
      withStoppableConnection(instance, stop.signal, async (c) => {
        for (; ran < 20_000; ran++) await c.run('SELECT sum(i) FROM range(20000) t(i)');
      }),
      /INTERRUPT/i,
    );
    assert.ok(ran < 20_000, `all ${ran} statements ran`);
    // An aborted signal starts nothing.
    await assert.rejects(
      withStoppableConnection(instance, stop.signal, async () => assert.fail('ran')),
      (err: unknown) => err === stop.signal.reason,
    );
  } finally {
    instance.closeSync();
  }
});

test('an instance DuckDB stopped after an internal error is told apart from one that runs', async () => {
  const instance = await openDuckDB({ kind: 'worker-slot', threads: 2, memoryLimit: '256MB', tempDirectory: path.join(dir, 'stopped-spill'), allowedDirectories: [allowed] });
  const file = path.join(allowed, 'cut.csv');
  try {
    assert.equal(await isUsable(instance), true);
    // A character cut short in a file's last field fails an internal check of DuckDB's CSV reader (1.5): the trigger is DuckDB's bug, not Inlet's.
    writeFileSync(file, Buffer.from('||||||\xe2\n', 'latin1'));
    const columns = Array.from({ length: 7 }, (_, i) => `'c${i}': 'VARCHAR'`).join(', ');
    const err = await withConnection(instance, undefined, (c) => c.run(`SELECT c0, c6 FROM read_csv('${file}', columns={${columns}}, header=false, auto_detect=false, delim='|')`)).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(stopsInstance(err), `this DuckDB no longer stops on the cut character (it gave ${String(err)}): the test needs another trigger`);
    assert.equal(await isUsable(instance), false);
    assert.equal(stopsInstance(new Error('Conversion Error: Could not convert string')), false);
  } finally {
    try {
      instance.closeSync();
    } catch {
      // A stopped instance may fail to close.
    }
  }
});
