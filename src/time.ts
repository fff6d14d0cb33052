import { hrtime } from 'node:process';

/** Hydrolix writes `created`/`modified` with microseconds and a `Z`: 2021-06-03T12:28:41.967285Z. */
export function isoMicros(date: Date = new Date()): string {
  const micros = Number((hrtime.bigint() / 1000n) % 1000n);
  return date.toISOString().replace('Z', `${String(micros).padStart(3, '0')}Z`);
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
