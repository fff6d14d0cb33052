import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN } from './inlet.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `inlet serve` as its own process, as a user runs it, so it can be killed mid-job. */
export async function spawnInlet(
  env: Record<string, string>,
  nodeArgs: readonly string[] = [],
  /** `built`: the compiled dist/ with plain node, as `npm start` runs it (see builtInlet); else the sources through tsx. */
  options: { built?: boolean } = {},
): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null>; log(): string }> {
  const port = await freePort();
  const entry = options.built ? [path.join(ROOT, 'dist/cli.js')] : ['--import', 'tsx', path.join(ROOT, 'src/cli.ts')];
  const child = spawn(process.execPath, [...nodeArgs, ...entry, 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      INLET_HOST: '127.0.0.1',
      INLET_PORT: String(port),
      INLET_ADMIN_EMAIL: ADMIN.username,
      INLET_ADMIN_PASSWORD: ADMIN.password,
      INLET_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // The whole log is kept (tests read what a process said), and the pipes are always drained so
  // the child never blocks on a full one; INLET_SPAWN_ECHO=1 echoes it after the ready line.
  let log = '';
  let ready = false;
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (ready) {
        if (process.env.INLET_SPAWN_ECHO) process.stderr.write(chunk);
        return;
      }
      // A worker-only process serves no HTTP: its ready line has no URL.
      if (log.includes('ready at http') || (env.INLET_ROLE === 'worker' && /inlet \S+ ready"/.test(log))) {
        ready = true;
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`inlet exited with ${code} before it was ready:\n${log}`)));
  });
  return { child, url: `http://127.0.0.1:${port}`, exited, log: () => log };
}

/**
 * Compiles dist/ when it is older than the sources, as `npm start` does, for spawnInlet's
 * `built`: the benchmarks measure what users run, without tsx's loader in each process.
 */
export function builtInlet(): void {
  const build = spawnSync(process.execPath, [path.join(ROOT, 'scripts/build.js')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (build.status !== 0) throw new Error(`scripts/build.js exited with ${build.signal ?? build.status}`);
}

/** What a finished process said: its exit code and its whole output. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs node with `args` to its end, stdout and stderr as pipes (not a terminal), as a script would. */
export function runNode(args: readonly string[], options: { cwd: string; env: Record<string, string | undefined> }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The run, once it is known to have exited 0 (the output is in the failure's message). */
export function succeeded(run: Run): Run {
  assert.equal(run.code, 0, `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  return run;
}
