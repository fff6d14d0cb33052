import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Transform } from 'node:stream';
import { describe, test } from 'node:test';
import { JsZstdStream, zstdDecoder } from '../src/ingest/decompress.js';
import { throughPieces } from './helpers/streams.js';

const native = await import('zstd-napi').catch(() => undefined);

const DECODERS: [string, (() => Transform) | undefined][] = [
  ['zstd-napi (native)', native && (() => new native.DecompressStream())],
  ['fzstd (JavaScript)', () => new JsZstdStream()],
];

const decode = (make: () => Transform, input: Buffer, pieceBytes?: number) => throughPieces(make(), input, pieceBytes);

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
