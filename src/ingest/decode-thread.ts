// A decode thread (see decode-on-thread.ts): decodes the object it was started for, answers, and ends.
import { parentPort, workerData } from 'node:worker_threads';
import type { DecodeAnswer } from './decode-on-thread.js';
import { decodeHere, type DecodeJob } from './decompress.js';

async function run(port: NonNullable<typeof parentPort>, job: DecodeJob): Promise<void> {
  const stop = new AbortController();
  port.on('message', () => stop.abort());
  // Most decodes get no message: the port must not keep the thread alive once it has answered.
  port.unref();
  try {
    await decodeHere(job, stop.signal);
    port.postMessage({} satisfies DecodeAnswer);
  } catch (err) {
    const { name, message, code } = err instanceof Error ? (err as Error & { code?: unknown }) : { name: 'Error', message: String(err), code: undefined };
    port.postMessage({ error: { name, message, ...(typeof code === 'string' ? { code } : {}) } } satisfies DecodeAnswer);
  }
}

await run(parentPort!, workerData as DecodeJob);
