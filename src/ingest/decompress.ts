import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { Readable, Transform as TransformStream, type TransformCallback } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createInflate, createInflateRaw } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import unbzip2 from 'unbzip2-stream';
import xz from 'xz-decompress';
import yauzl from 'yauzl';
import { SourceError } from '../errors.js';
import type { Compression } from '../transform/model.js';
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

/** zstd decoded in JavaScript: where the native decoder (an optional dependency) could not be built. */
export class JsZstdStream extends TransformStream {
  private readonly decoder = new ZstdDecompress((chunk) => this.push(Buffer.from(chunk)));
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
    try {
      this.decoder.push(chunk);
      done();
    } catch (err) {
      done(err as Error);
    }
  }
  override _flush(done: TransformCallback) {
    try {
      this.decoder.push(new Uint8Array(0), true);
      done();
    } catch (err) {
      done(err as Error);
    }
  }
}

/**
 * The zstd decoder: zstd's own C library through `zstd-napi` when its install built it, which
 * decodes several times faster than `fzstd` (Node 20's zlib has no zstd; figures in
 * docs/benchmarks.md), and `fzstd` otherwise. Both read concatenated frames and refuse
 * truncated or corrupt ones (test/zstd.test.ts).
 */
const nativeZstd = await import('zstd-napi').catch(() => undefined);

export const zstdDecoder: { readonly native: boolean; stream(): TransformStream } = nativeZstd ? { native: true, stream: () => new nativeZstd.DecompressStream() } : { native: false, stream: () => new JsZstdStream() };

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
async function unzipTo(raw: string, dest: string, url: string, tail: () => NodeJS.ReadWriteStream[]): Promise<void> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => yauzl.open(raw, { lazyEntries: true, autoClose: false }, (err, z) => (err ? reject(err) : resolve(z))));
  try {
    const entries = await new Promise<yauzl.Entry[]>((resolve, reject) => {
      const found: yauzl.Entry[] = [];
      zip.on('entry', (e: yauzl.Entry) => {
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
    await pipeline([stream, ...tail(), outputFile(dest)]);
  } finally {
    zip.close();
  }
}

/** Decodes a spooled object into `dest` as UTF-8 text (see Utf8Text), within `limit`. */
export async function decodeFile(raw: string, dest: string, compression: Compression, url: string, limit: DecodeLimit): Promise<void> {
  const input = () => createReadStream(raw, { highWaterMark: 1024 * 1024 });
  const { size } = await stat(raw);
  const tail = () => [new ExpansionLimit(url, limit, () => size), new Utf8Text(url)];
  const decode = async (source: Readable, decoder?: NodeJS.ReadWriteStream) => pipeline([source, ...(decoder ? [decoder] : []), ...tail(), outputFile(dest)]);
  switch (compression) {
    case 'zip':
      return unzipTo(raw, dest, url, tail);
    case 'deflate':
    case 'zlib':
      return decode(input(), isZlibHeader(await head(raw)) ? createInflate(INFLATE_OPTIONS) : createInflateRaw(INFLATE_OPTIONS));
    case 'bzip2':
      return decode(input(), unbzip2());
    case 'zstd':
      return decode(input(), zstdDecoder.stream());
    case 'xz': {
      const web = Readable.toWeb(input()) as unknown as ReadableStream<Uint8Array>;
      return decode(Readable.fromWeb(new xz.XzReadableStream(web) as unknown as WebReadableStream<Uint8Array>));
    }
    case 'gzip':
      return decode(input(), createGunzip(INFLATE_OPTIONS));
    case 'none':
      return decode(input());
  }
}

/** How far an object may expand as it decodes: see ExpansionLimit. */
export interface DecodeLimit {
  /** Decoded bytes over encoded bytes (INLET_MAX_DECODE_RATIO). */
  readonly maxRatio: number;
  /** Decoded bytes below which an object is not judged: DEFAULT_DECODE_CHECKED_FROM but in tests. */
  readonly checkedFrom: number;
}

/** Smaller decoded objects cannot fill a worker's disk: they are never judged by their ratio. */
export const DEFAULT_DECODE_CHECKED_FROM = 1024 ** 3;

/**
 * Passes an object's decoded bytes on, failing the object once they pass `maxRatio` times the
 * encoded bytes read so far (past `checkedFrom`): a few megabytes of compressed zeros (a
 * decompression bomb) would otherwise fill the worker's scratch disk and fail every task on it.
 * Real logs expand by tens at most; gzip cannot pass about a thousand.
 */
export class ExpansionLimit extends TransformStream {
  private decoded = 0;
  constructor(
    private readonly url: string,
    private readonly limit: DecodeLimit,
    private readonly encodedBytes: () => number,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
    this.decoded += chunk.length;
    const encoded = this.encodedBytes();
    if (this.decoded <= this.limit.checkedFrom || this.decoded <= this.limit.maxRatio * encoded) return done(null, chunk);
    done(
      new SourceError(
        `${this.url} decodes to more than ${this.limit.maxRatio} times its size (${this.decoded} bytes from ${encoded} so far) and is refused as a decompression bomb; if it is real data, raise INLET_MAX_DECODE_RATIO`,
      ),
    );
  }
}
