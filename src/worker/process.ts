import { fork, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';

export type ParentMessage = { type: 'nudge' } | { type: 'stop' };
export type ChildMessage = { type: 'ready' } | { type: 'job-changed'; orgId: string; jobId: string };

/** Below the API's priority, so status and query answers stay quick while ingest takes every core. */
const WORKER_NICENESS = 10;
const STOP_TIMEOUT_MS = 30_000;

export interface WorkerProcess {
  readonly pid: number;
  nudge(): void;
  stop(): Promise<void>;
}

/**
 * Runs the worker pool in a child process: ingest's downloads and DuckDB callbacks get their
 * own event loop, and the OS favours the API when the cores are busy.
 */
export async function startWorkerProcess(config: Config, log: Logger, onJobChanged: (orgId: string, jobId: string) => void = () => {}): Promise<WorkerProcess> {
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), `child${path.extname(fileURLToPath(import.meta.url))}`);
  const child: ChildProcess = fork(entry, [], {
    execArgv: process.execArgv,
    env: { ...process.env, INLET_WORKER_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.on('message', (message: ChildMessage) => {
    if (message.type === 'job-changed') onJobChanged(message.orgId, message.jobId);
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', (message: ChildMessage) => (message.type === 'ready' ? resolve() : undefined));
    void exited.then((code) => reject(new Error(`the worker process exited with ${code} while starting`)));
  });
  try {
    setPriority(child.pid!, WORKER_NICENESS);
  } catch (err) {
    log.warn({ err: String(err) }, 'could not lower the worker process priority');
  }
  void exited.then((code) => {
    if (!stopping) log.error({ code }, 'the worker process exited; restart inlet to resume ingest');
  });
  let stopping = false;
  const send = (message: ParentMessage) => {
    if (child.connected) child.send(message);
  };
  return {
    pid: child.pid!,
    nudge: () => send({ type: 'nudge' }),
    stop: async () => {
      stopping = true;
      send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
