import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import xz from 'xz-decompress';

/**
 * xz decoded by xz-embedded in WebAssembly: one output buffer per pull, each only once the
 * reader wants more. Its dictionary grows with what the stream asks, up to the library's limit.
 */
export function unxz(source: Readable): Readable {
  const web = Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>;
  return Readable.fromWeb(new xz.XzReadableStream(web) as unknown as WebReadableStream<Uint8Array>);
}
