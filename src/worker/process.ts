import { fork, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/config.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';

/** Our PID, for the child's parent watch: by the time the child reads its own parent PID, a killed parent has already been replaced. */
export const PARENT_PID_ENV = 'INLET_WORKER_PARENT_PID';

export type ParentMessage = { type: 'nudge' } | { type: 'stop' } | { type: 'metrics'; id: number };
export type ChildMessage = { type: 'ready' } | { type: 'job-changed'; orgId: string; jobId: string } | { type: 'metrics'; id: number; text: string };

/** Below the API's priority, so status and query answers stay quick while ingest takes every core. */
const WORKER_NICENESS = 10;
const STOP_TIMEOUT_MS = 30_000;
/** A worker process silent this long after its fork is reported: the API serves on regardless. */
const READY_WARNING_MS = 60_000;
/** A worker process this slow to give its metrics (a blocked event loop) leaves them out of the scrape, not the API's own. */
const METRICS_TIMEOUT_MS = 2000;
/**
 * V8 flags of worker processes alone: given to the process `inlet serve` forks, and set by a
 * `--role worker` process on itself as it starts. Incremental marking, started again and again by the
 * external memory of decoded downloads (with the AWS SDK loaded), was finished by a task each
 * time: full collections back to back while objects downloaded, which took much of the
 * decoding's CPU again. Without the task, marking advances with allocation and finishes far
 * less often. Turning incremental marking off altogether gained more there but slowed many
 * small downloads, whose event loop waited on atomic collections (docs/benchmarks.md,
 * "The twelfth session").
 */
export const WORKER_V8_FLAGS = ['--no-incremental-marking-task'];

export interface WorkerProcess {
  /** Undefined when the fork itself failed (logged). */
  readonly pid: number | undefined;
  nudge(): void;
  /** Its metrics in Prometheus text, or undefined when it is not running or does not answer in time. */
  metrics(): Promise<string | undefined>;
  stop(): Promise<void>;
}

/**
 * Runs the worker pool in a child process: ingest's downloads and DuckDB callbacks get their
 * own event loop, and the OS favours the API when the cores are busy. Returns at once: the API
 * must come up whatever the worker process does, so nothing here waits for it to be ready.
 */
export function startWorkerProcess(config: Config, log: Logger, onJobChanged: (orgId: string, jobId: string) => void = () => {}): WorkerProcess {
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), `child${path.extname(fileURLToPath(import.meta.url))}`);
  const child: ChildProcess = fork(entry, [], {
    execArgv: [...process.execArgv, ...WORKER_V8_FLAGS],
    env: { ...process.env, INLET_WORKER_CONFIG: JSON.stringify(config), [PARENT_PID_ENV]: String(process.pid) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let ready = false;
  let stopping = false;
  let nextMetricsId = 1;
  const metricsWaiters = new Map<number, (text: string | undefined) => void>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.on('exit', (code, signal) => {
    for (const waiter of metricsWaiters.values()) waiter(undefined);
    metricsWaiters.clear();
    if (stopping) return;
    if (ready) log.error({ code, signal }, 'the worker process exited; restart inlet to resume ingest');
    else log.error({ code, signal }, 'the worker process exited while starting (see its error above); the API keeps serving, but no task runs until inlet restarts');
  });
  // A failed fork or a send to a process that just died: logged, never an unhandled 'error' event.
  child.on('error', (err) => log.error({ err: errorMessage(err) }, 'worker process error'));
  const silence = setTimeout(() => {
    if (!ready && child.exitCode === null && child.signalCode === null) log.error({ pid: child.pid, waitedMs: READY_WARNING_MS }, 'the worker process has not started yet; the API serves, but tasks wait until it does');
  }, READY_WARNING_MS);
  silence.unref();
  // One handler for every message, whatever their order: a task can finish before `ready` arrives.
  child.on('message', (message: ChildMessage) => {
    if (message.type === 'job-changed') onJobChanged(message.orgId, message.jobId);
    else if (message.type === 'metrics') metricsWaiters.get(message.id)?.(message.text);
    else if (message.type === 'ready') {
      ready = true;
      clearTimeout(silence);
      log.debug({ pid: child.pid }, 'worker process ready');
    }
  });
  if (child.pid !== undefined) {
    try {
      setPriority(child.pid, WORKER_NICENESS);
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'could not lower the worker process priority');
    }
  }
  const send = (message: ParentMessage) => {
    // The callback takes a failed write (the child just died), which 'exit' then reports.
    if (child.connected) child.send(message, (err) => err && log.debug({ err: errorMessage(err) }, 'message to the worker process lost'));
  };
  return {
    pid: child.pid,
    nudge: () => {
      if (ready) send({ type: 'nudge' });
    },
    metrics: () => {
      if (!ready || !child.connected) return Promise.resolve(undefined);
      const id = nextMetricsId++;
      return new Promise<string | undefined>((resolve) => {
        const timer = setTimeout(() => settle(undefined), METRICS_TIMEOUT_MS);
        const settle = (text: string | undefined) => {
          clearTimeout(timer);
          metricsWaiters.delete(id);
          resolve(text);
        };
        metricsWaiters.set(id, settle);
        send({ type: 'metrics', id });
      });
    },
    stop: async () => {
      stopping = true;
      clearTimeout(silence);
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      // Before `ready` the child may not be listening for messages yet; SIGTERM is its other way to stop.
      if (ready && child.connected) send({ type: 'stop' });
      else child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
