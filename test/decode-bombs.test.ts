import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { deflateSync } from 'node:zlib';
import { loadConfig } from '../src/config/config.js';
import { SourceError } from '../src/errors.js';
import { decodeOnThread } from '../src/ingest/decode-on-thread.js';
import { DecodeTally, decodeFile, DEFAULT_DECODE_CHECKED_FROM, type DecodeLimit } from '../src/ingest/decompress.js';
import { fetchToFile } from '../src/ingest/fetch.js';
import { Sources } from '../src/sources/sources.js';
import { jsZstdStream, zstdDecoder } from '../src/ingest/zstd.js';
import type { Compression } from '../src/transform/model.js';

// Decoding a spooled object must neither hold the worker's event loop (which renews task leases
// and runs the other task slot) nor its memory, and a bomb must fail its file as a bomb.

const root = mkdtempSync(path.join(tmpdir(), 'inlet-decode-bombs-'));
after(() => rmSync(root, { recursive: true, force: true }));
const TRANSFORM_FIXTURES = path.join(import.meta.dirname, 'fixtures', 'transform');
const DECODE_FIXTURES = path.join(import.meta.dirname, 'fixtures', 'decode');
const MiB = 1024 * 1024;
const WHOLE: DecodeLimit = { maxRatio: 1e9, checkedFrom: DEFAULT_DECODE_CHECKED_FROM };
/** Judged from 1 MiB decoded, so a test bomb is refused without writing a gigabyte. */
const BOMB_LIMIT: DecodeLimit = { maxRatio: 100, checkedFrom: MiB };
/** An event loop held longer than this would be a decoder running to the end of its input. */
const MAX_LOOP_GAP_MS = 1500;

const bombError = (url: string) => (err: unknown) => {
  assert.ok(err instanceof SourceError, `a SourceError, not ${String(err)}`);
  assert.ok(err.message.startsWith(`${url} decodes to more than 100 times its size`), err.message);
  assert.match(err.message, /refused as a decompression bomb; if it is real data, raise INLET_MAX_DECODE_RATIO$/);
  return true;
};

/** `head -c 20000000 /dev/zero | tr '\0' '\n' | bzip2 -9`: 50 bytes, one bzip2 block of 20 MB of newlines. */
const BZIP2_NEWLINES = Buffer.from('QlpoOTFBWSZTWSamFSYAmS/CAIAQAAgACCAAMMwFKaaqkRRsAoijxdyRThQkCamFSYA=', 'base64');
const BZIP2_NEWLINES_BYTES = 20_000_000;

/** The text of fixtures/decode/lines.txt.bz2, which `bzip2 -1` made of it: several blocks of 100 kB. */
const LINES = Buffer.from(Array.from({ length: 160_000 }, (_, i) => `${i % 1000}\n`).join(''));

/** A zstd frame of RLE blocks (4 bytes each, for 128 KiB of one byte): `decodedBytes` of spaces from a few kilobytes. */
function zstdBomb(decodedBytes: number): Buffer {
  const BLOCK = 128 * 1024;
  const blocks = Math.ceil(decodedBytes / BLOCK);
  // Magic; no content size, single segment, checksum or dictionary; a 128 KiB window.
  const frame = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3])];
  for (let i = 0; i < blocks; i++) {
    const header = (BLOCK << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0);
    frame.push(Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff, 0x20]));
  }
  return Buffer.concat(frame);
}

function spool(name: string, bytes: Buffer): string {
  const file = path.join(root, name);
  writeFileSync(file, bytes);
  return file;
}

/** Runs `work`, answering the longest the event loop went without a turn meanwhile. */
async function loopGapWhile(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(tick);
  }
  return Math.max(longest, performance.now() - last);
}

describe('decompression bombs', () => {
  // First: maxRSS is the process's peak, which a test before this one could have raised.
  test('a zstd bomb is refused as a bomb without ever holding what it decodes to', async () => {
    const raw = spool('bomb.zst', zstdBomb(1024 * MiB));
    const url = 's3://logs/bomb.zst';
    const before = process.resourceUsage().maxRSS;
    const gap = await loopGapWhile(() => assert.rejects(decodeFile(raw, path.join(root, 'bomb.zst.out'), 'zstd', url, BOMB_LIMIT), bombError(url)));
    const grownMiB = (process.resourceUsage().maxRSS - before) / 1024;
    assert.ok(grownMiB < 256, `peak memory grew by ${grownMiB.toFixed(0)} MiB decoding a 1 GiB zstd bomb`);
    assert.ok(gap < MAX_LOOP_GAP_MS, `the event loop waited ${gap.toFixed(0)} ms`);
  });

  test('zstd decoders, native and JavaScript, decode a bomb only as far as it is read', async () => {
    const decoders = [
      ['zstd-napi', zstdDecoder.native ? zstdDecoder.stream : undefined],
      ['fzstd', jsZstdStream],
    ] as const;
    for (const [name, make] of decoders) {
      if (!make) continue;
      const before = process.memoryUsage().arrayBuffers;
      const decoder = make();
      decoder.end(zstdBomb(1024 * MiB));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const heldMiB = (process.memoryUsage().arrayBuffers - before) / MiB;
      decoder.destroy();
      assert.ok(heldMiB < 64, `${name} holds ${heldMiB.toFixed(0)} MiB of a bomb no one reads`);
    }
  });

  test('a bzip2 bomb is refused as a bomb while the event loop goes on', async () => {
    const raw = spool('bomb.bz2', BZIP2_NEWLINES);
    const url = 's3://logs/bomb.bz2';
    const gap = await loopGapWhile(() => assert.rejects(decodeFile(raw, path.join(root, 'bomb.bz2.out'), 'bzip2', url, BOMB_LIMIT), bombError(url)));
    assert.ok(gap < MAX_LOOP_GAP_MS, `the event loop waited ${gap.toFixed(0)} ms`);
  });

  test("a task's objects are judged together, on its decode threads too: many small bombs fail where each alone passes", async () => {
    const tally = new DecodeTally();
    // Each object alone stays below where objects are judged; the task's third passes it.
    const limit: DecodeLimit = { maxRatio: 100, checkedFrom: 5 * MiB, task: tally.buffer };
    const bomb = spool('small.zst', zstdBomb(2 * MiB));
    const url = (i: number) => `s3://logs/small-${i}.zst`;
    for (const i of [0, 1]) await decodeFile(bomb, path.join(root, `small-${i}.out`), 'zstd', url(i), limit);
    const job = { raw: bomb, dest: path.join(root, 'small-2.out'), compression: 'zstd' as const, url: url(2), limit, size: zstdBomb(2 * MiB).length };
    await assert.rejects(decodeOnThread(job), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.ok(err.message.startsWith(`${url(2)} and the other objects of its task decode to more than 100 times their size together`), err.message);
      assert.match(err.message, /refused as a decompression bomb; if it is real data, raise INLET_MAX_DECODE_RATIO$/);
      return true;
    });
    const { decoded } = tally.add(0, 0);
    assert.ok(decoded > 5 * MiB && decoded <= 6 * MiB, `the thread added what it decoded to the task's bytes: ${decoded}`);
    await assert.rejects(decodeFile(bomb, path.join(root, 'small-3.out'), 'zstd', url(3), limit), /and the other objects of its task decode to more than 100 times/);
    // Objects that expand as real logs do are not refused, however many bytes they add up to.
    const real = new DecodeTally();
    const lines = spool('lines.bz2', readFileSync(path.join(DECODE_FIXTURES, 'lines.txt.bz2')));
    for (let i = 0; i < 8; i++) await decodeFile(lines, path.join(root, `lines-${i}.out`), 'bzip2', url(i), { maxRatio: 100, checkedFrom: MiB, task: real.buffer });
    assert.equal(real.add(0, 0).decoded, 8 * LINES.length);
  });

  test('a fetched bomb fails its file at the first attempt, with the bomb as the reason', async () => {
    const sources = new Sources(loadConfig({}, { fileRoots: root, dataDir: path.join(root, 'data') }));
    let opened = 0;
    const open = sources.open.bind(sources);
    sources.open = (objectUrl, signal) => (opened++, open(objectUrl, signal));
    const file = spool('fetched.bz2', BZIP2_NEWLINES);
    const url = pathToFileURL(file).href;
    const options = { attempts: 3, backoffMs: 1, signal: new AbortController().signal, decodeLimit: BOMB_LIMIT };
    await assert.rejects(fetchToFile(sources, url, 'bzip2', path.join(root, 'fetched.out'), options), bombError(url));
    assert.equal(opened, 1, 'a bomb is not read again');
  });
});

describe('decoding spooled objects', () => {
  const FORMATS: [Compression, string][] = [
    ['bzip2', 'bz2'],
    ['xz', 'xz'],
    ['zip', 'zip'],
    ['zstd', 'zst'],
    ['zlib', 'zz'],
    ['gzip', 'gz'],
  ];

  test('every format decodes to the same bytes, on the calling thread and on a thread of its own', async () => {
    for (const name of ['cdn-access.log', 'cloudtrail.ndjson', 'services.tsv']) {
      const text = readFileSync(path.join(TRANSFORM_FIXTURES, name));
      for (const [compression, ext] of FORMATS) {
        const raw = path.join(TRANSFORM_FIXTURES, `${name}.${ext}`);
        const dest = path.join(root, `${name}.${ext}.out`);
        await decodeFile(raw, dest, compression, `s3://logs/${name}.${ext}`, WHOLE);
        assert.ok(readFileSync(dest).equals(text), `${name}.${ext}`);
        if (name !== 'services.tsv') continue;
        const job = { raw, dest, compression, url: `s3://logs/${name}.${ext}`, limit: WHOLE, size: readFileSync(raw).length };
        await decodeOnThread(job);
        assert.ok(readFileSync(dest).equals(text), `${name}.${ext} on a thread`);
      }
    }
  });

  test('deflate without its zlib header decodes too', async () => {
    const text = readFileSync(path.join(TRANSFORM_FIXTURES, 'services.tsv'));
    const raw = spool('services.tsv.deflate', deflateSync(text).subarray(2, -4));
    const dest = path.join(root, 'services.tsv.deflate.out');
    await decodeFile(raw, dest, 'deflate', 's3://logs/services.tsv.deflate', WHOLE);
    assert.ok(readFileSync(dest).equals(text));
  });

  test('bzip2 of several blocks and several streams decodes whole; truncated bzip2 is an error', async () => {
    const lines = readFileSync(path.join(DECODE_FIXTURES, 'lines.txt.bz2'));
    const dest = path.join(root, 'lines.out');
    for (const [name, bytes, text] of [
      ['lines.txt.bz2', lines, LINES],
      ['twice.txt.bz2', Buffer.concat([lines, lines]), Buffer.concat([LINES, LINES])],
    ] as const) {
      const raw = spool(name, bytes);
      await decodeFile(raw, dest, 'bzip2', `s3://logs/${name}`, WHOLE);
      assert.ok(readFileSync(dest).equals(text), name);
      await decodeOnThread({ raw, dest, compression: 'bzip2', url: `s3://logs/${name}`, limit: WHOLE, size: bytes.length });
      assert.ok(readFileSync(dest).equals(text), `${name} on a thread`);
    }
    const cut = spool('cut.txt.bz2', lines.subarray(0, lines.length - 1000));
    await assert.rejects(decodeFile(cut, dest, 'bzip2', 's3://logs/cut.txt.bz2', WHOLE), /ends in the middle of a bzip2 stream: the object is cut short/);
  });

  test('a small object that decodes to much goes on on a thread and decodes whole', async () => {
    const raw = spool('newlines.bz2', BZIP2_NEWLINES);
    const dest = path.join(root, 'newlines.out');
    await decodeFile(raw, dest, 'bzip2', 's3://logs/newlines.bz2', WHOLE);
    assert.ok(readFileSync(dest).equals(Buffer.alloc(BZIP2_NEWLINES_BYTES, '\n')));
  });

  test('a decode stops when its signal aborts, on the calling thread or a thread of its own', async () => {
    const raw = spool('abort.bz2', BZIP2_NEWLINES);
    const reason = new Error('the task was canceled');
    const dest = path.join(root, 'abort.out');
    await assert.rejects(decodeFile(raw, dest, 'bzip2', 's3://logs/abort.bz2', WHOLE, AbortSignal.abort(reason)), (err) => err === reason || (err as Error).cause === reason);
    const job = { raw, dest, compression: 'bzip2' as const, url: 's3://logs/abort.bz2', limit: WHOLE, size: BZIP2_NEWLINES.length };
    const stop = new AbortController();
    const decoding = decodeOnThread(job, stop.signal);
    setTimeout(() => stop.abort(reason), 50);
    await assert.rejects(decoding, (err) => err === reason);
  });
});
