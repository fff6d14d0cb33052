import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { spawnInlet } from './helpers/process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

/** The shell blocks of one README section, in order. */
function shellBlocks(readme: string, heading: string): string[] {
  const start = readme.indexOf(`\n## ${heading}`);
  assert.ok(start >= 0, `README has no "## ${heading}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

// The quick start is what a new user copies first: it runs here as written, except that the
// server gets a free port and a data dir of its own instead of 8080 and ./data.
test('the README quick start runs verbatim and answers the queries it shows', { timeout: 120_000 }, async () => {
  const [setup, flow] = shellBlocks(readFileSync(path.join(ROOT, 'README.md'), 'utf8'), 'Quick start');
  assert.ok(setup && flow, 'the quick start has a set-up block and a curl block');
  const startLine = setup.split('\n').find((line) => /\bnpm start\b/.test(line));
  assert.ok(startLine, 'the set-up block starts the server with npm start');
  const env = Object.fromEntries([...startLine.matchAll(/([A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
  await run('bash', ['-euo', 'pipefail', '-c', setup.replace(startLine, '')]);

  const dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-quickstart-'));
  const inlet = await spawnInlet({ ...env, INLET_ADMIN_EMAIL: 'admin@localhost', INLET_DATA_DIR: dataDir });
  try {
    assert.match(flow, /H=http:\/\/localhost:8080\n/);
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', flow.replace('H=http://localhost:8080', `H=${inlet.url}`)], { timeout: 90_000 });
    assert.match(stdout, /"status": "done"/);
    assert.match(stdout, /a\.example\.com\t2\nb\.example\.com\t1\n/);
    assert.match(stdout, /"count\(\)": "?3"?/);
  } finally {
    inlet.child.kill('SIGTERM');
    await inlet.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
});
