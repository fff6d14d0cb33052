import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SourceError } from '../errors.js';
import type { DecodeJob } from './decompress.js';

/** A decode thread's one message: nothing once the object is decoded, else why not. */
export interface DecodeAnswer {
  readonly error?: { readonly name: string; readonly message: string; readonly code?: string };
}

/**
 * JavaScript heap a decode thread may take. Its decoders keep their data in buffers outside
 * the heap, so a thread that reaches this is at fault: it is stopped before it takes the worker.
 */
const THREAD_HEAP_MB = 128;

/**
 * The thread's code: decode-thread.js once compiled; decode-thread.ts under tsx (tests, `npm
 * run inlet`), where the thread must register tsx itself, as Node 20 gives a thread none of the
 * loader hooks `--import tsx` gave its parent.
 */
function threadCode(): { code: string | URL; eval: boolean } {
  const here = fileURLToPath(import.meta.url);
  const ext = path.extname(here);
  const entry = pathToFileURL(path.join(path.dirname(here), `decode-thread${ext}`));
  if (ext !== '.ts') return { code: entry, eval: false };
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  return { code: `import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`, eval: true };
}

/** The error a thread answered, as the type it was thrown with where callers tell types apart. */
function rebuilt({ name, message, code }: NonNullable<DecodeAnswer['error']>): Error {
  if (name === 'SourceError') return new SourceError(message);
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

/** Runs decodeHere on a thread of its own (see decodeFile), answering once the thread has ended and so closed its files. */
export function decodeOnThread(job: DecodeJob, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const { code, eval: isCode } = threadCode();
    const thread = new Worker(code, { eval: isCode, workerData: job, resourceLimits: { maxOldGenerationSizeMb: THREAD_HEAP_MB } });
    let answer: DecodeAnswer | undefined;
    let crash: Error | undefined;
    // Asked to stop rather than terminated: a terminated thread would leave its files open.
    const stop = () => thread.postMessage('stop');
    signal?.addEventListener('abort', stop, { once: true });
    thread.on('message', (message: DecodeAnswer) => (answer = message));
    thread.on('error', (err: Error & { code?: string }) => {
      crash =
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new SourceError(`${job.url} took more than ${THREAD_HEAP_MB} MiB of memory to decode as ${job.compression} and is refused: check that it is whole, valid ${job.compression} data`, { cause: err })
          : err;
    });
    thread.on('exit', (exitCode) => {
      signal?.removeEventListener('abort', stop);
      if (signal?.aborted) reject(signal.reason);
      else if (answer?.error) reject(rebuilt(answer.error));
      else if (crash) reject(crash);
      else if (!answer) reject(new Error(`the decoding thread ended (exit code ${exitCode}) without an answer`));
      else resolve();
    });
  });
}
