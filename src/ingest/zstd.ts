import { Duplex } from 'node:stream';
import { Decompress as ZstdDecompress } from 'fzstd';

/** Encoded bytes fzstd is given at once: it decodes every block they hold in one call, and a 4-byte block can stand for 128 KiB. */
const JS_ZSTD_PIECE_BYTES = 256;
/** Decoded bytes the native decoder writes per call. */
const NATIVE_ZSTD_OUTPUT_BYTES = 256 * 1024;

/** zstd decoded in JavaScript: where the native decoder (an optional dependency) could not be built. */
export const jsZstdStream = (): Duplex =>
  Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    const decoded: Buffer[] = [];
    const decoder = new ZstdDecompress((chunk) => decoded.push(Buffer.from(chunk)));
    for await (const chunk of source) {
      for (let at = 0; at < chunk.length; at += JS_ZSTD_PIECE_BYTES) {
        decoder.push(chunk.subarray(at, at + JS_ZSTD_PIECE_BYTES));
        yield* decoded.splice(0);
      }
    }
    decoder.push(new Uint8Array(0), true);
    yield* decoded.splice(0);
  });

/**
 * zstd's own C library through `zstd-napi` when its install built it, which decodes several
 * times faster than `fzstd` (Node 20's zlib has no zstd; figures in docs/benchmarks.md).
 * Its binding, not its DecompressStream: that one decodes a whole input piece in one call,
 * whatever the reader wants, and so holds all a bomb's piece decodes to in memory.
 */
const zstdBinding = await import('zstd-napi/binding.js').then((binding) => binding.default).catch(() => undefined);

/** Decodes with zstd-napi, a bounded output buffer per call, each only once the reader wants more. */
const nativeZstdStream = (binding: NonNullable<typeof zstdBinding>) => (): Duplex =>
  Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    const context = new binding.DCtx();
    let inFrame = false;
    for await (const chunk of source) {
      let input = chunk;
      for (;;) {
        const output = Buffer.allocUnsafe(NATIVE_ZSTD_OUTPUT_BYTES);
        const [left, produced, consumed] = context.decompressStream(output, input);
        input = input.subarray(consumed);
        if (produced > 0) yield output.subarray(0, produced);
        if (input.length === 0 && (produced < output.length || left === 0)) {
          inFrame = left !== 0;
          break;
        }
      }
    }
    if (inFrame) throw new Error('the data ends in the middle of a zstd frame: the object is cut short; upload it whole');
  });

/** The zstd decoder: native where installed, else JavaScript; both read concatenated frames and refuse truncated or corrupt ones (test/zstd.test.ts). */
export const zstdDecoder: { readonly native: boolean; stream(): Duplex } = zstdBinding ? { native: true, stream: nativeZstdStream(zstdBinding) } : { native: false, stream: jsZstdStream };
