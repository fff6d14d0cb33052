import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';
import { jsZstdStream, zstdDecoder } from '../src/ingest/zstd.js';

const native = await import('zstd-napi').catch(() => undefined);

const DECODERS: [string, (() => Duplex) | undefined][] = [
  ['zstd-napi (native)', zstdDecoder.native ? zstdDecoder.stream : undefined],
  ['fzstd (JavaScript)', jsZstdStream],
];

/** Feeds `input` through a new decoder in pieces of `pieceBytes` and answers all it passed on. */
async function decode(make: () => Duplex, input: Buffer, pieceBytes = 64 * 1024): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let at = 0; at < input.length; at += pieceBytes) pieces.push(input.subarray(at, at + pieceBytes));
  const out: Buffer[] = [];
  const collect = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.push(chunk);
      done();
    },
  });
  await pipeline(Readable.from(pieces), make(), collect);
  return Buffer.concat(out);
}

describe('zstd decoding', () => {
  test('the native decoder is the one used where it is installed', () => {
    assert.equal(zstdDecoder.native, native !== undefined);
  });

  for (const [name, make] of DECODERS) {
    test(`${name}: the same bytes as encoded, across frames and pieces; truncated or corrupt data is an error`, { skip: make ? false : 'zstd-napi is not installed here' }, async () => {
      if (!make || !native) return;
      const lines = Array.from({ length: 50_000 }, (_, i) => `${i},${randomBytes(8).toString('hex')},2024-01-01 00:00:${String(i % 60).padStart(2, '0')}\n`).join('');
      const text = Buffer.from(lines);
      const frames = Buffer.concat([native.compress(text.subarray(0, 1_000_000)), native.compress(text.subarray(1_000_000))]);
      assert.ok((await decode(make, frames)).equals(text));
      assert.ok((await decode(make, frames, 7)).equals(text), 'pieces splitting frame headers');
      await assert.rejects(decode(make, frames.subarray(0, frames.length - 10)));
      const corrupt = Buffer.from(frames);
      corrupt.fill(0xab, 20, 4000);
      await assert.rejects(decode(make, corrupt));
    });
  }
});
