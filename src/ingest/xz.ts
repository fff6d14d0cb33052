import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import xz from 'xz-decompress';

/**
 * What each of xz-embedded's failure codes means for the object, as its library reports only
 * the number ("get_next_output failed with error code 8").
 */
const XZ_FAILURES: Record<number, string> = {
  2: 'uses an integrity check the xz decoder does not support',
  3: 'needs more memory than the xz decoder could get',
  4: 'needs a larger dictionary than the xz decoder allows',
  5: 'is not in the xz format',
  6: 'uses xz options or filters the decoder does not support',
  7: 'is corrupt: its xz data or an integrity check does not match',
  8: 'ends before its xz stream does: the object is truncated',
};

/** The library's error, told in words where its code is known. */
export function xzFailure(err: unknown): Error {
  const code = /error code (\d+)/.exec(err instanceof Error ? err.message : String(err))?.[1];
  const meaning = code === undefined ? undefined : XZ_FAILURES[Number(code)];
  return meaning ? new Error(`${meaning} (xz error ${code})`, { cause: err }) : (err as Error);
}

async function* explained(decoded: Readable): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of decoded) yield chunk as Buffer;
  } catch (err) {
    throw xzFailure(err);
  }
}

/**
 * xz decoded by xz-embedded in WebAssembly: one output buffer per pull, each only once the
 * reader wants more. Its dictionary grows with what the stream asks, up to the library's limit.
 */
export function unxz(source: Readable): Readable {
  const web = Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>;
  const decoded = Readable.fromWeb(new xz.XzReadableStream(web) as unknown as WebReadableStream<Uint8Array>);
  return Readable.from(explained(decoded), { objectMode: false });
}
