import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ADMIN, startInlet, type TestInlet } from './helpers/inlet.js';
import { runNode, succeeded, type Run } from './helpers/process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Under the repository, so the build finds node_modules as dist/ does; never dist/ itself, which other tests' processes may be running. */
const OUT = path.join('.tmp', `build-test-${process.pid}`);
/** Server-side packages: a client command that loads one has lost its lazy loading. */
const SERVER_PACKAGES = /^(fastify|@fastify\/|@duckdb\/|@aws-sdk\/|pg|better-sqlite3|kysely|pino|prom-client|tsx)(\/|$)/;

let work: string;
let inlet: TestInlet;

const run = (args: readonly string[], env: Record<string, string> = {}): Promise<Run> => runNode(args, { cwd: work, env: { ...process.env, INLET_CONFIG_DIR: path.join(work, 'config'), ...env } });
const ok = succeeded;

before(async () => {
  mkdirSync(path.join(ROOT, '.tmp'), { recursive: true });
  work = mkdtempSync(path.join(ROOT, '.tmp', 'build-test-work-'));
  // A resolve hook that refuses server packages, loaded before the CLI: plain node, no tsx.
  writeFileSync(
    path.join(work, 'hooks.mjs'),
    `export async function resolve(specifier, context, next) {
      if (${SERVER_PACKAGES}.test(specifier)) throw new Error('a client command loaded the server package ' + specifier);
      return next(specifier, context);
    }\n`,
  );
  writeFileSync(path.join(work, 'no-server.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(new URL(`file://${path.join(work, 'hooks.mjs')}`).href)});\n`);
  inlet = await startInlet();
});

after(async () => {
  await inlet?.stop();
  rmSync(work, { recursive: true, force: true });
  rmSync(path.join(ROOT, OUT), { recursive: true, force: true });
});

test('npm run build compiles the CLI, which plain node runs; client commands load no server package', { timeout: 300_000 }, async () => {
  const build = await run([path.join(ROOT, 'scripts/build.js'), '--out-dir', OUT]);
  assert.equal(build.code, 0, build.stderr);
  const cli = path.join(ROOT, OUT, 'cli.js');
  const noServer = ['--import', path.join(work, 'no-server.mjs'), cli];

  assert.equal(ok(await run([...noServer, '--version'])).stdout, '0.1.0\n');
  const help = ok(await run([...noServer, '--help'])).stdout;
  for (const command of ['serve', 'admin', 'login', 'project', 'table', 'transform', 'job', 'query']) assert.match(help, new RegExp(`^  ${command}\\b`, 'm'));
  assert.match(ok(await run([...noServer, 'job', 'list', '--help'])).stdout, /Example:\n {2}\$ inlet job list/);

  ok(await run([...noServer, 'login', '--url', inlet.service.url!, '--username', ADMIN.username, '--password', ADMIN.password]));
  ok(await run([...noServer, 'project', 'create', 'built']));
  const projects = JSON.parse(ok(await run([...noServer, 'project', 'list', '--json'])).stdout) as { name: string }[];
  assert.deepEqual(
    projects.map((p) => p.name),
    ['built'],
  );
  assert.deepEqual(JSON.parse(ok(await run([...noServer, 'job', 'list', '--json'])).stdout), []);

  // The hook itself works: serve does load the server.
  const serve = await run([...noServer, 'serve', '--port', '0', '--data-dir', path.join(work, 'data')]);
  assert.notEqual(serve.code, 0);
  assert.match(serve.stderr, /a client command loaded the server package/);
});
