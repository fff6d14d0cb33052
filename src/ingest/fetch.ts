import { rm, stat, writeFile } from 'node:fs/promises';
import { Readable, Transform as TransformStream, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, gunzip } from 'node:zlib';
import { errorMessage, InletError, SourceError, TransientSourceError } from '../errors.js';
import { changedError, type Sources } from '../sources/sources.js';
import type { Compression } from '../transform/model.js';
import { sleep } from '../time.js';
import { needsRewrite, utf8Of, Utf8Text } from './text-encoding.js';
import { checkMagic, decodeFile, ExpansionLimit, head, INFLATE_OPTIONS, MAGIC_LENGTH, outputFile, STREAMED, type DecodeLimit } from './decompress.js';

/**
 * Checks the first bytes against the compression the object is read with, so a mismatch fails
 * the file with a clear reason instead of loading every line as a rejected row of binary noise.
 */
class MagicCheck extends TransformStream {
  private seen = Buffer.alloc(0);
  private checked = false;
  bytes = 0;

  constructor(
    private readonly compression: Compression,
    private readonly url: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
    this.bytes += chunk.length;
    if (!this.checked) {
      this.seen = Buffer.concat([this.seen, chunk]);
      if (this.seen.length < MAGIC_LENGTH) return done();
      const error = checkMagic(this.seen, this.compression, this.url);
      if (error) return done(error);
      this.checked = true;
      chunk = this.seen;
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback) {
    if (!this.checked && this.seen.length > 0) {
      const error = checkMagic(this.seen, this.compression, this.url);
      if (error) return done(error);
      this.push(this.seen);
    }
    done();
  }
}

const gunzipAsync = promisify(gunzip);

/** File name endings that say how an object is compressed, whatever the transform declares. */
const EXTENSIONS: readonly [RegExp, Compression][] = [
  [/\.(gz|gzip)$/i, 'gzip'],
  [/\.zip$/i, 'zip'],
  [/\.(bz2|bzip2)$/i, 'bzip2'],
  [/\.(zst|zstd)$/i, 'zstd'],
  [/\.xz$/i, 'xz'],
  [/\.(zz|zlib)$/i, 'zlib'],
];

/**
 * The compression to read one object with: the transform's, unless the object's name says
 * otherwise (`.gz`, `.zip`, `.bz2`, `.zst`, `.xz`, `.zz`), so a prefix mixing `a.csv` and
 * `b.csv.gz` loads whole. The bytes are still checked against the choice.
 */
export function compressionFor(url: string, declared: Compression): Compression {
  return EXTENSIONS.find(([pattern]) => pattern.test(url))?.[1] ?? declared;
}

export interface FetchResult {
  /** Bytes read from the source (compressed size). */
  readonly bytes: number;
  readonly attempts: number;
  /** Where the decoded bytes are: the destination asked for, or a local source file read in place. */
  readonly path: string;
  /** The decoded bytes, where `hold` took them: then nothing was written to `path` (a file read in place is there already). */
  readonly data?: Buffer;
  /** `path` is the source's own file (file://, uncompressed), read where it is: never written to or removed. */
  readonly inPlace?: boolean;
}

/** An object read without a version to check may have grown since it was listed: it is refused, not read on. */
const grownError = (url: string, listedSize: number) => new SourceError(changedError(url, `${listedSize} bytes`, `more than ${listedSize} bytes`));

/** A small object the task may hold in memory (see bundle.ts): its size as listed, and the budget. */
interface Holding {
  readonly size: number;
  readonly hold: (decodedBytes: number) => boolean;
}

/**
 * An uncompressed file below a file root needs no copy: DuckDB reads it where it is (copying
 * a thousand small files took longer than converting them). Its first bytes are still checked.
 * A small one the task may hold is read whole instead, up to its listed size, so that a bundle
 * of many is one file for DuckDB instead of a thousand; the file itself is never written.
 */
async function readableInPlace(sources: Sources, url: string, compression: Compression, holding: Holding | undefined): Promise<{ bytes: number; path: string; data?: Buffer } | undefined> {
  if (compressionFor(url, compression) !== 'none') return undefined;
  const local = await sources.localPath(url);
  // DuckDB would read `*`, `?`, `[` or `{` in a name as a glob: such files are copied to a plain name.
  if (!local || /[*?[\]{}]/.test(local)) return undefined;
  const whole = holding !== undefined && holding.size <= SMALL_OBJECT_BYTES;
  // Its first bytes, or all of them when it is read whole.
  let first: Buffer;
  let bytes: number;
  try {
    [first, bytes] = whole ? await head(local, holding.size + 1).then((data) => [data, data.length] as const) : await Promise.all([head(local), stat(local).then((info) => info.size)]);
  } catch (err) {
    throw new SourceError(`${url} could not be read: ${errorMessage(err)}`, { cause: err });
  }
  if (whole && bytes > holding.size) throw grownError(url, holding.size);
  const error = first.length > 0 ? checkMagic(first.subarray(0, MAGIC_LENGTH), 'none', url) : undefined;
  if (error) throw error;
  // UTF-16 text is copied, rewritten as UTF-8 on the way.
  if (needsRewrite(first, url)) return undefined;
  return whole && holding.hold(bytes) ? { bytes, path: local, data: first } : { bytes, path: local };
}

/**
 * Objects listed at this size or less are read whole and written with one call: for many small
 * objects, a file stream per object (its open, writes, close and stream machinery) cost more CPU
 * than one writeFile (docs/benchmarks.md, small files).
 */
const SMALL_OBJECT_BYTES = 256 * 1024;
/**
 * Decoded bytes of a small gzip object held at most, so the downloads in flight hold tens of
 * megabytes at worst; a larger one (however small compressed) is decoded as a stream.
 */
const SMALL_DECODED_BYTES = 4 * 1024 * 1024;

/**
 * Reads a small object whole and answers its decoded bytes as UTF-8 text (see Utf8Text),
 * counting them into `magic` and checking its first bytes; a gzip object that decodes to more
 * than SMALL_DECODED_BYTES is streamed to `dest` instead (undefined); past `listedSize` it is
 * refused. No stream pipeline: for many small objects, its machinery (an abort controller and its
 * exception per object) cost more CPU than reading the bytes (docs/benchmarks.md, small files).
 */
async function readWhole(body: Readable, magic: MagicCheck, compression: Compression, dest: string, signal: AbortSignal, url: string, listedSize: number, limit: DecodeLimit): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  const abort = () => body.destroy(signal.reason as Error);
  // Destroyed, the body ends the loop below with the abort's reason (and frees its connection).
  if (signal.aborted) abort();
  else signal.addEventListener('abort', abort, { once: true });
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      magic.bytes += chunk.length;
      if (magic.bytes > listedSize) throw grownError(url, listedSize);
      chunks.push(chunk);
    }
  } finally {
    signal.removeEventListener('abort', abort);
  }
  const data = Buffer.concat(chunks);
  const wrong = data.length > 0 ? checkMagic(data.subarray(0, MAGIC_LENGTH), compression, url) : undefined;
  if (wrong) throw wrong;
  if (compression !== 'gzip' || data.length === 0) return utf8Of(data, url);
  try {
    return utf8Of(await gunzipAsync(data, { ...INFLATE_OPTIONS, maxOutputLength: SMALL_DECODED_BYTES }), url);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_BUFFER_TOO_LARGE') throw err;
    await pipeline(Readable.from([data]), createGunzip(INFLATE_OPTIONS), new ExpansionLimit(url, limit, () => data.length), new Utf8Text(url), outputFile(dest), { signal });
    return undefined;
  }
}

/**
 * Streams one object to a local file, decompressing on the way; never holds more than a small
 * object in memory, and keeps it there (instead of writing it) only where `hold` takes it.
 */
async function fetchOnce(
  sources: Sources,
  url: string,
  compression: Compression,
  dest: string,
  signal: AbortSignal,
  listed: string | undefined,
  size: number | undefined,
  hold: ((decodedBytes: number) => boolean) | undefined,
  limit: DecodeLimit,
): Promise<{ bytes: number; data?: Buffer }> {
  compression = compressionFor(url, compression);
  const { body, version } = await sources.open(url, signal);
  if (listed !== undefined && version !== undefined && version !== listed) {
    body.destroy();
    throw new SourceError(changedError(url, listed, version));
  }
  const magic = new MagicCheck(compression, url);
  // gzip and plain text decode on the way in; other formats are spooled and decoded from disk.
  const spool = STREAMED.includes(compression) ? undefined : `${dest}.raw`;
  const stages: NodeJS.ReadWriteStream[] = [magic];
  if (compression === 'gzip') stages.push(createGunzip(INFLATE_OPTIONS), new ExpansionLimit(url, limit, () => magic.bytes));
  if (!spool) stages.push(new Utf8Text(url));
  try {
    if (!spool && size !== undefined && size <= SMALL_OBJECT_BYTES) {
      const data = await readWhole(body, magic, compression, dest, signal, url, size, limit);
      if (data && hold?.(data.length)) return { bytes: magic.bytes, data };
      if (data) await writeFile(dest, data);
    } else await pipeline([body, ...stages, outputFile(spool ?? dest)], { signal });
  } catch (err) {
    if (err instanceof InletError) throw err;
    const zlibError = (err as { code?: string }).code?.startsWith('Z_');
    // An empty object is an empty file whatever its declared compression.
    if (zlibError && magic.bytes === 0) {
      await writeFile(dest, '');
      return { bytes: 0 };
    }
    // Corrupt compressed data will be just as corrupt next time; a dropped connection may not be.
    if (zlibError && magic.bytes > 0) throw new SourceError(`${url} could not be decompressed as ${compression}: ${errorMessage(err)}`, { cause: err });
    if (signal.aborted) throw err;
    throw new TransientSourceError(`${url} could not be read: ${errorMessage(err)}`, { cause: err });
  }
  if (spool) {
    try {
      if (magic.bytes === 0) await writeFile(dest, '');
      else await decodeFile(spool, dest, compression, url, limit, signal);
    } catch (err) {
      if (err instanceof InletError) throw err;
      throw new SourceError(`${url} could not be decompressed as ${compression}: ${errorMessage(err)}`, { cause: err });
    } finally {
      await rm(spool, { force: true });
    }
  }
  return { bytes: magic.bytes };
}

export async function fetchToFile(
  sources: Sources,
  url: string,
  compression: Compression,
  dest: string,
  /**
   * `version`: the object's version as listed; bytes of another version are not loaded. `size`:
   * that version's size as listed (a small object is then read whole). `hold`: whether a small
   * object's decoded bytes may stay in memory instead of being written (see bundle.ts).
   * `decodeLimit`: how far a compressed object may expand (see decompress.ts ExpansionLimit).
   */
  options: { attempts: number; signal: AbortSignal; decodeLimit: DecodeLimit; backoffMs?: number; version?: string; size?: number; hold?: (decodedBytes: number) => boolean },
): Promise<FetchResult> {
  const holding = options.hold && options.size !== undefined ? { size: options.size, hold: options.hold } : undefined;
  const inPlace = await readableInPlace(sources, url, compression, holding);
  if (inPlace) return { ...inPlace, attempts: 1, inPlace: true };
  // A task fetches many objects at once under one signal: each gets a signal of its own (which
  // holds no listener on the task's), so the SDK's, the pipeline's and the backoff's listeners
  // live and die with their object instead of piling up on the task's signal.
  const signal = AbortSignal.any([options.signal]);
  for (let attempt = 1; ; attempt++) {
    try {
      const fetched = await fetchOnce(sources, url, compression, dest, signal, options.version, options.size, options.hold, options.decodeLimit);
      return { ...fetched, attempts: attempt, path: dest };
    } catch (err) {
      await rm(dest, { force: true });
      const retryable = err instanceof InletError ? err.retryable : !signal.aborted;
      if (!retryable || attempt >= options.attempts || signal.aborted) throw err;
      await sleep((options.backoffMs ?? 250) * 2 ** (attempt - 1), signal);
    }
  }
}
