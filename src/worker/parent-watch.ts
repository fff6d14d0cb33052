import { Worker } from 'node:worker_threads';

/** How often the watch looks at the parent: a dead parent's worker process is gone within about twice this. */
const WATCH_INTERVAL_MS = 500;

// Runs in a thread of its own, so it still acts when the main thread is stuck in synchronous work
// and can no longer see the IPC channel close. Plain CommonJS: an eval'd thread gets no TS loader.
const WATCH_SOURCE = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
let seenGone = false;
setInterval(() => {
  if (process.ppid === workerData.parentPid) return;
  // The main thread exits on its own when it can; only a stuck one is still here a beat later.
  if (!seenGone) { seenGone = true; return; }
  try { writeSync(1, JSON.stringify({ level: 50, time: new Date().toISOString(), ...workerData.fields }) + '\\n'); } catch {}
  process.kill(process.pid, 'SIGKILL');
}, workerData.intervalMs);
`;

/**
 * Kills this process once its parent is gone (the parent was killed outright). A process whose
 * parent dies is re-parented, so its parent PID changing is the signal, whatever state its own
 * event loop is in. `fields` go to stdout first, as one JSON log line: the one trace such an exit leaves.
 */
export function exitWithParent(parentPid: number, fields: Record<string, unknown>, onError: (err: Error) => void): void {
  const watch = new Worker(WATCH_SOURCE, { eval: true, workerData: { parentPid, fields, intervalMs: WATCH_INTERVAL_MS } });
  watch.on('error', onError);
  watch.unref();
}
