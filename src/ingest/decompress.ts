import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { Duplex, Readable, Transform as TransformStream, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createInflate, createInflateRaw } from 'node:zlib';
import type { Entry, ZipFile } from 'yauzl';
import { SourceError } from '../errors.js';
import type { Compression } from '../transform/model.js';
import { decodeOnThread } from './decode-on-thread.js';
import { Utf8Text } from './text-encoding.js';

/** The first bytes of each compressed format; `deflate` may be raw and so has none to check. */
export const MAGIC: Partial<Record<Compression, { bytes: readonly Buffer[]; label: string }>> = {
  gzip: { bytes: [Buffer.from([0x1f, 0x8b])], label: '1f8b' },
  zip: { bytes: [Buffer.from('PK\x03\x04', 'latin1'), Buffer.from('PK\x05\x06', 'latin1')], label: '504b0304' },
  bzip2: { bytes: [Buffer.from('BZh', 'latin1')], label: '425a68 ("BZh")' },
  xz: { bytes: [Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])], label: 'fd377a585a00' },
  zstd: { bytes: [Buffer.from([0x28, 0xb5, 0x2f, 0xfd])], label: '28b52ffd' },
};
/** Enough bytes to recognise every format above. */
export const MAGIC_LENGTH = 6;

/** A zlib stream starts with a CMF/FLG pair: method 8 (deflate) and a header checksum divisible by 31. */
export const isZlibHeader = (head: Buffer) => head.length >= 2 && (head[0]! & 0x0f) === 8 && (head[0]! * 256 + head[1]!) % 31 === 0;

export function detectCompression(head: Buffer): Compression | undefined {
  for (const [name, magic] of Object.entries(MAGIC)) {
    if (magic.bytes.some((m) => head.subarray(0, m.length).equals(m))) return name as Compression;
  }
  return undefined;
}

/**
 * Checks the head of an object against the compression it will be read with, so a mismatch
 * fails the file with a reason instead of loading binary noise as rejected rows.
 */
export function checkMagic(head: Buffer, compression: Compression, url: string): SourceError | undefined {
  const found = detectCompression(head);
  const hex = head.subarray(0, 4).toString('hex');
  if (compression === 'none') {
    return found ? new SourceError(`${url} is ${found}-compressed (it starts with ${hex}) but the transform says compression "none": set "compression": "${found}"`) : undefined;
  }
  if (compression === 'zlib' && !isZlibHeader(head)) {
    return new SourceError(`${url} is not zlib data (it starts with bytes ${hex}, which is no zlib header): fix the transform's compression ("deflate" also reads raw deflate)`);
  }
  const magic = MAGIC[compression];
  if (magic && found !== compression) {
    return new SourceError(`${url} is not ${compression} data (it starts with bytes ${hex}, ${compression} starts with ${magic.label})${found ? `; it looks like ${found}` : ''}: fix the transform's compression`);
  }
  if (compression === 'deflate' && found) {
    return new SourceError(`${url} is ${found}-compressed (it starts with ${hex}) but the transform says compression "deflate": set "compression": "${found}"`);
  }
  return undefined;
}

/**
 * zlib's and fs's default 16 KiB pieces each cost a trip through Node's thread pool: decoding in
 * 256 KiB pieces and writing in 1 MiB ones takes most of that CPU off a gunzip (figures: docs/benchmarks.md).
 */
export const INFLATE_OPTIONS = { chunkSize: 256 * 1024 };
export const outputFile = (file: string) => createWriteStream(file, { highWaterMark: 1024 * 1024 });

/** Formats decoded while the object streams in; the others are spooled to disk first (zip needs its directory at the end). */
export const STREAMED: readonly Compression[] = ['none', 'gzip'];

/** A file's first `length` bytes, MAGIC_LENGTH unless told (fewer if it is shorter). */
export async function head(file: string, length: number = MAGIC_LENGTH): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    let filled = 0;
    for (let read = -1; read !== 0 && filled < length; filled += read) ({ bytesRead: read } = await handle.read(buffer, filled, length - filled, filled));
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

/** The one file inside a zip archive (folders are skipped); several files would mix headers and records. */
async function unzipTo(raw: string, dest: string, url: string, tail: () => NodeJS.ReadWriteStream[], signal: AbortSignal | undefined): Promise<void> {
  const { default: yauzl } = await import('yauzl');
  const zip = await new Promise<ZipFile>((resolve, reject) => yauzl.open(raw, { lazyEntries: true, autoClose: false }, (err, z) => (err ? reject(err) : resolve(z))));
  try {
    const entries = await new Promise<Entry[]>((resolve, reject) => {
      const found: Entry[] = [];
      zip.on('entry', (e: Entry) => {
        if (!e.fileName.endsWith('/')) found.push(e);
        zip.readEntry();
      });
      zip.on('end', () => resolve(found));
      zip.on('error', reject);
      zip.readEntry();
    });
    if (entries.length === 0) {
      await pipeline(Readable.from([]), createWriteStream(dest));
      return;
    }
    if (entries.length > 1) {
      throw new SourceError(
        `${url} is a zip archive of ${entries.length} files (${entries
          .slice(0, 3)
          .map((e) => e.fileName)
          .join(', ')}…): Inlet reads zip archives holding one file; upload the files separately`,
      );
    }
    const stream = await new Promise<Readable>((resolve, reject) => zip.openReadStream(entries[0]!, (err, s) => (err ? reject(err) : resolve(s))));
    await pipeline([stream, ...tail(), outputFile(dest)], { signal });
  } finally {
    zip.close();
  }
}

/** One spooled object to decode: what decodeFile was given, and the encoded size. */
export interface DecodeJob {
  readonly raw: string;
  readonly dest: string;
  readonly compression: Compression;
  readonly url: string;
  readonly limit: DecodeLimit;
  readonly size: number;
}

/** How much a decode on the calling thread may do before it goes on on a thread of its own. */
interface CallingThreadLimit {
  readonly decodedBytes: number;
  /** A bzip2 block is decoded in one synchronous call. */
  readonly bzip2BlockBytes: number;
}

/** Thrown where a decode on the calling thread passes its CallingThreadLimit: decodeFile starts it again on a thread. */
class OutgrewCallingThread extends Error {}

/** Fails a decode on the calling thread once it passes `bytes` decoded. */
class DecodedBytesLimit extends TransformStream {
  private decoded = 0;
  constructor(private readonly bytes: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
    this.decoded += chunk.length;
    if (this.decoded > this.bytes) return done(new OutgrewCallingThread(`more than ${this.bytes} bytes decoded`));
    done(null, chunk);
  }
}

/** A spooled object's bytes, decoded: its decoder is loaded when first used, so a decode thread loads only its own. */
async function decodedStreams(compression: Exclude<Compression, 'zip'>, raw: string, bzip2BlockBytes: number | undefined): Promise<[Readable, ...NodeJS.ReadWriteStream[]]> {
  const input = () => createReadStream(raw, { highWaterMark: 1024 * 1024 });
  switch (compression) {
    case 'deflate':
    case 'zlib': {
      const zlib = isZlibHeader(await head(raw));
      return [input(), zlib ? createInflate(INFLATE_OPTIONS) : createInflateRaw(INFLATE_OPTIONS)];
    }
    case 'bzip2': {
      const { bunzip2 } = await import('./bzip2.js');
      const limit = bzip2BlockBytes === undefined ? undefined : { maxBlockBytes: bzip2BlockBytes, tooLarge: () => new OutgrewCallingThread(`a bzip2 block of more than ${bzip2BlockBytes} bytes`) };
      return [input(), Duplex.from((source: AsyncIterable<Buffer>) => bunzip2(source, limit))];
    }
    case 'zstd': {
      const { zstdDecoder } = await import('./zstd.js');
      return [input(), zstdDecoder.stream()];
    }
    case 'xz': {
      const { unxz } = await import('./xz.js');
      return [unxz(input())];
    }
    case 'gzip':
      return [input(), createGunzip(INFLATE_OPTIONS)];
    case 'none':
      return [input()];
  }
}

/** Decodes a spooled object on the calling thread (see decodeFile), within `callingThread` where given. */
export async function decodeHere({ raw, dest, compression, url, limit, size }: DecodeJob, signal?: AbortSignal, callingThread?: CallingThreadLimit): Promise<void> {
  const tail = () => [new ExpansionLimit(url, limit, () => size), ...(callingThread ? [new DecodedBytesLimit(callingThread.decodedBytes)] : []), new Utf8Text(url)];
  if (compression === 'zip') return unzipTo(raw, dest, url, tail, signal);
  await pipeline([...(await decodedStreams(compression, raw, callingThread?.bzip2BlockBytes)), ...tail(), outputFile(dest)], { signal });
}

/**
 * Whether a format's decoder is JavaScript or WebAssembly, run on the thread that calls it. The
 * others stay on the calling thread: zlib inflates on libuv's thread pool, and zstd's C library
 * decodes there in steps of one output buffer at its full speed (on a thread of its own, every
 * object would also pay for the thread's start and its fresh memory).
 */
async function decodedByScript(compression: Compression): Promise<boolean> {
  if (compression === 'zstd') return !(await import('./zstd.js')).zstdDecoder.native;
  return compression === 'bzip2' || compression === 'xz';
}

/**
 * Encoded bytes below which an object a script decodes is first decoded on the calling thread:
 * starting a thread costs more than decoding most such objects. Its decoder works there in
 * steps (an xz buffer, the blocks of a few hundred zstd bytes, a bzip2 block within
 * CALLING_THREAD's size), each only once the reader wants more, so the event loop goes on between them.
 */
const SMALL_ENCODED_BYTES = 1024 * 1024;
/** What a small object may decode to on the calling thread before it goes to a thread (a bomb, or a bzip2 block of long runs). */
const CALLING_THREAD: CallingThreadLimit = { decodedBytes: 32 * 1024 * 1024, bzip2BlockBytes: 4 * 1024 * 1024 };

/**
 * Decodes a spooled object into `dest` as UTF-8 text (see Utf8Text), within `limit`. What a
 * script decodes (see decodedByScript) goes to a thread of its own unless it is small: there the
 * worker's event loop goes on renewing leases and running its other task slot, and the long decode
 * takes a core of its own. `signal` stops the decode (its reason is thrown).
 */
export async function decodeFile(raw: string, dest: string, compression: Compression, url: string, limit: DecodeLimit, signal?: AbortSignal): Promise<void> {
  const { size } = await stat(raw);
  const job: DecodeJob = { raw, dest, compression, url, limit, size };
  if (!(await decodedByScript(compression))) return decodeHere(job, signal);
  if (size < SMALL_ENCODED_BYTES) {
    try {
      return await decodeHere(job, signal, CALLING_THREAD);
    } catch (err) {
      if (!(err instanceof OutgrewCallingThread)) throw err;
    }
  }
  return decodeOnThread(job, signal);
}

/** How far an object may expand as it decodes: see ExpansionLimit. */
export interface DecodeLimit {
  /** Decoded bytes over encoded bytes (INLET_MAX_DECODE_RATIO). */
  readonly maxRatio: number;
  /** Decoded bytes below which an object is not judged: DEFAULT_DECODE_CHECKED_FROM but in tests. */
  readonly checkedFrom: number;
  /**
   * The buffer of the DecodeTally of the task the object is read for, where there is one: the
   * task's objects are then judged together too. A buffer, not the tally, as it goes to decode threads.
   */
  readonly task?: SharedArrayBuffer;
}

/** Smaller decoded objects cannot fill a worker's disk: they are never judged by their ratio. */
export const DEFAULT_DECODE_CHECKED_FROM = 1024 ** 3;

/**
 * The bytes a task's objects decoded, and the encoded bytes they came from, together: in shared
 * memory, as decode threads add to it. Each object alone may stay below `checkedFrom` while a
 * thousand of them fill the disk.
 */
export class DecodeTally {
  private readonly counts: BigInt64Array;
  constructor(readonly buffer = new SharedArrayBuffer(2 * BigInt64Array.BYTES_PER_ELEMENT)) {
    this.counts = new BigInt64Array(buffer);
  }

  /** Adds an object's new bytes, answering the task's totals. */
  add(decoded: number, encoded: number): { decoded: number; encoded: number } {
    return {
      decoded: Number(Atomics.add(this.counts, 0, BigInt(decoded))) + decoded,
      encoded: Number(Atomics.add(this.counts, 1, BigInt(encoded))) + encoded,
    };
  }
}

const bombAdvice = 'and is refused as a decompression bomb; if it is real data, raise INLET_MAX_DECODE_RATIO';

/**
 * Passes an object's decoded bytes on, failing the object once they pass `maxRatio` times the
 * encoded bytes read so far (past `checkedFrom`), or once its task's objects together do: a few
 * megabytes of compressed zeros (a decompression bomb) would otherwise fill the worker's scratch
 * disk and fail every task on it. Real logs expand by tens at most; gzip cannot pass about a thousand.
 */
export class ExpansionLimit extends TransformStream {
  private decoded = 0;
  private encoded = 0;
  private readonly task: DecodeTally | undefined;
  constructor(
    private readonly url: string,
    private readonly limit: DecodeLimit,
    private readonly encodedBytes: () => number,
  ) {
    super();
    this.task = limit.task && new DecodeTally(limit.task);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
    const encoded = this.encodedBytes();
    const task = this.task?.add(chunk.length, encoded - this.encoded);
    this.decoded += chunk.length;
    this.encoded = encoded;
    const { checkedFrom, maxRatio } = this.limit;
    const over = (decoded: number, from: number) => decoded > checkedFrom && decoded > maxRatio * from;
    if (over(this.decoded, encoded)) return done(new SourceError(`${this.url} decodes to more than ${maxRatio} times its size (${this.decoded} bytes from ${encoded} so far) ${bombAdvice}`));
    if (task && over(task.decoded, task.encoded)) {
      return done(new SourceError(`${this.url} and the other objects of its task decode to more than ${maxRatio} times their size together (${task.decoded} bytes from ${task.encoded} so far) ${bombAdvice}`));
    }
    done(null, chunk);
  }
}
