// Start times for the README: `inlet serve` to its ready line, and `inlet job list` against it.
// Usage: node scripts/measure-startup.js [runs] [launcher...]   (default: 5 runs of bin/inlet.js;
// e.g. `node scripts/measure-startup.js 3 --import tsx src/cli.ts` for the sources through tsx)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [runsText = '5', ...launcher] = process.argv.slice(2);
const cmd = launcher.length ? launcher : [path.join(ROOT, 'bin/inlet.js')];
const runs = Number(runsText);
const PORT = 18123;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const data = mkdtempSync(path.join(tmpdir(), 'inlet-startup-'));
const env = { ...process.env, INLET_ADMIN_PASSWORD: 'secret', INLET_CONFIG_DIR: path.join(data, 'config'), INLET_PASSWORD: 'secret' };

function serveOnce() {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [...cmd, 'serve', '--port', String(PORT), '--host', '127.0.0.1', '--data-dir', data, '--workers', '1'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let log = '';
    child.stdout.on('data', (chunk) => {
      log += chunk;
      if (/ ready at /.test(log)) resolve({ ms: performance.now() - started, child });
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code} before it was ready:\n${log}`)));
  });
}

const stop = async (child) => {
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
};

const serveMs = [];
let server;
for (let i = 0; i < runs; i++) {
  const { ms, child } = await serveOnce();
  serveMs.push(ms);
  if (i < runs - 1) await stop(child);
  else server = child;
}
const client = (args) => spawnSync(process.execPath, [...cmd, ...args], { cwd: ROOT, env, encoding: 'utf8' });
const login = client(['login', '--url', `http://127.0.0.1:${PORT}`, '--username', 'admin@localhost']);
if (login.status !== 0) throw new Error(login.stderr);
const listMs = [];
const listCpuMs = [];
for (let i = 0; i < runs; i++) {
  const started = performance.now();
  const run = client(['job', 'list']);
  if (run.status !== 0) throw new Error(run.stderr);
  listMs.push(performance.now() - started);
  // CPU time (user + system) of the same command: less sensitive than wall time to a busy machine.
  const timed = spawnSync('bash', ['-c', 'TIMEFORMAT="%U %S"; time "$@" >/dev/null', 'time', process.execPath, ...cmd, 'job', 'list'], { cwd: ROOT, env, encoding: 'utf8' });
  const [user, system] = timed.stderr.trim().split('\n').pop().split(' ').map(Number);
  listCpuMs.push((user + system) * 1000);
}
await stop(server);
rmSync(data, { recursive: true, force: true });
const round = (xs) => xs.map(Math.round);
process.stdout.write(
  `${JSON.stringify({ serveMs: round(serveMs), serveMedianMs: Math.round(median(serveMs)), jobListMs: round(listMs), jobListMedianMs: Math.round(median(listMs)), jobListCpuMs: round(listCpuMs), jobListCpuMedianMs: Math.round(median(listCpuMs)) })}\n`,
);
