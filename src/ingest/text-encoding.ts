import { Transform as TransformStream, type TransformCallback } from 'node:stream';
import { SourceError } from '../errors.js';
import { TextDecoder } from 'node:util';

/** Enough bytes to tell every byte order mark below apart. */
const MARK_LENGTH = 4;

type Utf16 = 'utf-16le' | 'utf-16be';

/** A character that starts a line of text: printable ASCII, a tab or a line ending. */
const isTextAscii = (byte: number | undefined) => byte !== undefined && ((byte >= 0x20 && byte < 0x7f) || byte === 0x09 || byte === 0x0a || byte === 0x0d);

/**
 * The UTF-16 encoding a text's byte order mark names, or undefined for anything else (UTF-8,
 * with or without its mark, is read as it is). A UTF-32 mark fails the file: no decoder here
 * reads it, and read as UTF-16 it would load as rows of NUL characters. Without a mark, text
 * whose first two characters are ASCII with a NUL byte after (or before) each is UTF-16 too:
 * UTF-8 text holds no NUL, and a CSV header or a JSON record starts with ASCII.
 */
export function utf16Of(head: Buffer, url: string): Utf16 | undefined {
  const [a, b, c, d] = head;
  if ((a === 0xff && b === 0xfe && c === 0 && d === 0) || (a === 0 && b === 0 && c === 0xfe && d === 0xff)) {
    throw new SourceError(`${url} is UTF-32 text (it starts with the byte order mark ${head.subarray(0, 4).toString('hex')}): Inlet reads UTF-8 and UTF-16; convert it first (iconv -f UTF-32 -t UTF-8)`);
  }
  if (a === 0xff && b === 0xfe) return 'utf-16le';
  if (a === 0xfe && b === 0xff) return 'utf-16be';
  if (isTextAscii(a) && b === 0 && isTextAscii(c) && d === 0) return 'utf-16le';
  if (a === 0 && isTextAscii(b) && c === 0 && isTextAscii(d)) return 'utf-16be';
  return undefined;
}

/** Whether a file starting with these bytes must be rewritten before DuckDB reads it. */
export const needsRewrite = (head: Buffer, url: string) => utf16Of(head, url) !== undefined;

/** The text of a whole object as UTF-8: UTF-16 (by its mark) rewritten, anything else as it is. */
export function utf8Of(data: Buffer, url: string): Buffer {
  const encoding = utf16Of(data.subarray(0, MARK_LENGTH), url);
  return encoding ? Buffer.from(new TextDecoder(encoding).decode(data), 'utf8') : data;
}

/**
 * Passes an object's decoded bytes on as UTF-8. DuckDB reads only UTF-8, and a UTF-16 export
 * (as Windows tools write them) would otherwise load as rows of noise, every one rejected; so a
 * text that starts with a UTF-16 byte order mark is rewritten as it streams (the mark dropped).
 * Anything else passes untouched: a stray non-UTF-8 byte rejects only its own row.
 */
export class Utf8Text extends TransformStream {
  /** The first bytes, held until the mark can be judged; undefined once it has been. */
  private head: Buffer | undefined = Buffer.alloc(0);
  private decoder: TextDecoder | undefined;

  constructor(private readonly url: string) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
    if (this.head) {
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.length < MARK_LENGTH) return done();
      chunk = this.head;
      const error = this.judge(chunk);
      if (error) return done(error);
    }
    done(null, this.decoder ? Buffer.from(this.decoder.decode(chunk, { stream: true }), 'utf8') : chunk);
  }

  override _flush(done: TransformCallback) {
    if (this.head && this.head.length > 0) {
      const head = this.head;
      const error = this.judge(head);
      if (error) return done(error);
      this.push(this.decoder ? Buffer.from(this.decoder.decode(head, { stream: true }), 'utf8') : head);
    }
    if (this.decoder) this.push(Buffer.from(this.decoder.decode(), 'utf8'));
    done();
  }

  private judge(head: Buffer): Error | undefined {
    this.head = undefined;
    try {
      const encoding = utf16Of(head, this.url);
      if (encoding) this.decoder = new TextDecoder(encoding);
      return undefined;
    } catch (err) {
      return err as Error;
    }
  }
}
