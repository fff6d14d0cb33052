import { isUtf8 } from 'node:buffer';
import { pipeline } from 'node:stream/promises';
import { SourceError } from '../errors.js';
import type { CsvOptions, Transform } from '../transform/model.js';
import { readerColumn } from './convert.js';
import { outputFile } from './decompress.js';
import { scan, type DroppedLine } from './long-lines.js';
import { EvenLineEndings } from './even-line-endings.js';
import { byteOf, nextOf, NONE, OpenQuote } from './open-quote.js';

/**
 * DuckDB's CSV reader keeps one reject row per field a record has too many or too few, each
 * holding the whole record, at a cost in memory outside its limit even for a record one field off
 * (figures: docs/benchmarks.md, "The twenty-first session"). Records DuckDB would refuse for their
 * field count, their encoding or a closing quote are therefore judged here, by its rules, before
 * it reads the file.
 */

/**
 * Misfit records a task's chunk of files may hold together; the file that passes it is refused (it
 * is not the CSV the transform reads). Each is kept in memory, and in DuckDB's tables, until the
 * chunk is converted: a hundred thousand, spread over many small files, cost a worker a few hundred MB.
 */
export const MAX_MISFITS = 100_000;

/** What a chunk's files may still hold of MAX_MISFITS: one per readGroups call, shared by its files. */
export class MisfitBudget {
  left = MAX_MISFITS;
}

/** How the NDJSON `lines` read splits a line (compile.ts readSql): one field, split at \x01, no quotes. */
export const LINE_FIELDS: CsvOptions = { delimiter: '\u0001', quote: '', escape: '', skipHead: 0, comment: undefined };

const LF = 0x0a;
const CR = 0x0d;

interface Misfit {
  /** The record's line as DuckDB numbers them: every record and blank line is one. */
  readonly line: number;
  readonly fields: number;
  /** Byte offsets of the record, its line ending excluded; and of the next record. */
  readonly start: number;
  readonly end: number;
  next: number;
  readonly why: Why;
}

/** Why a record is judged: its field count, bytes that are not UTF-8, or text after a quoted field's closing quote. */
export type Why = 'fields' | 'encoding' | 'quote' | 'open';

/**
 * Whether DuckDB refuses a record of `count` fields, the last holding anything being the
 * `content`-th (0 if none), where the file's records have `fields`: too few, or more holding
 * something (past its fields, DuckDB drops empty ones, `""` included: `1,2,3,,` is three).
 */
export const isMisfit = (count: number, content: number, fields: number) => count < fields || content > fields;

const ORDINARY = 0;
const DELIMITER = 1;
const QUOTE = 2;
const ESCAPE = 3;
const ENDING = 4;
const COMMENT = 5;
/**
 * A space (one may lead a quoted field), or a tab where comments are read (a comment line may
 * start with spaces and tabs).
 */
const SPACE = 6;
/** A NUL byte, which DuckDB reads as no value. */
const NUL = 7;

/**
 * Where a field is for a quote: at its start a quote opens a quoted field, and so it does after
 * one space there (DuckDB's reader reads ` "a,b"` as the field `a,b`, but a quote after two spaces
 * or a tab is data); inside the field a quote is data.
 */
const INSIDE = 0;
const FIELD_START = 1;
const ONE_SPACE_IN = 2;

/** Where the scan is between pieces of the file. */
const enum At {
  Unquoted,
  Quoted,
  /** Inside quotes after a quote that closes the field unless a quote follows (escape = quote). */
  QuoteInQuotes,
  /** Inside quotes after an escape that escapes a quote or an escape, if one follows. */
  EscapeInQuotes,
  /** After a "\r", which with a "\n" after it is one line ending. */
  AfterCr,
  /** After the comment byte, outside quotes: DuckDB reads no more of the line. */
  Comment,
  /** After a quoted field's closing quote: spaces may follow, then its delimiter or line ending. */
  Closed,
}

/** The records of one file, counted as DuckDB reads them: see misfits. */
class RecordScan {
  readonly found: Misfit[] = [];
  private readonly kind = new Uint8Array(256);
  private readonly quote: number;
  private readonly escape: number;
  /** Whether a doubled quote inside quotes is a quote (the escape is the quote). */
  private readonly doubled: boolean;
  private at = At.Unquoted;
  private line = 1;
  private recordStart = 0;
  private count = 1;
  /** The last field of the record going on that holds anything (from 1; 0 if none). */
  private content = 0;
  private fieldStart = FIELD_START;
  /** `content` before a space that may lead a quoted field: the space is not the field's if a quote follows. */
  private contentBeforeSpace = 0;
  /** Whether the record so far holds spaces and tabs only (where comments are read). */
  private blank = true;
  /** Whether the record is a comment line, which DuckDB skips. */
  private commentLine = false;
  /** Whether the record holds text after a quoted field's closing quote, which DuckDB refuses (UNQUOTED VALUE). */
  private afterQuote = false;
  /** Whether the last misfit found waits to learn where the next record starts. */
  private open = false;
  private offset = 0;
  /** The record going on at the end of the last piece, where it started in that piece and is inside quotes. */
  private quotedTail: Buffer | undefined;
  /** The end of the last piece where it cuts a character: checked with the next piece. */
  private cutCharacter = Buffer.alloc(0);

  constructor(
    csv: CsvOptions,
    private readonly fields: number,
    private readonly headLines: number,
    private readonly budget: MisfitBudget = new MisfitBudget(),
  ) {
    this.quote = byteOf(csv.quote);
    // An escape that is also the quote is read as a quote: inside quotes, one byte with both meanings.
    this.doubled = csv.escape === csv.quote;
    this.escape = this.doubled ? NONE : byteOf(csv.escape);
    const comment = csv.comment === undefined ? NONE : byteOf(csv.comment);
    this.kind[0x20] = SPACE;
    if (comment !== NONE) {
      this.kind[0x09] = SPACE;
      this.kind[comment] = COMMENT;
    }
    if (this.escape !== NONE) this.kind[this.escape] = ESCAPE;
    if (this.quote !== NONE) this.kind[this.quote] = QUOTE;
    if (byteOf(csv.delimiter) !== NONE) this.kind[byteOf(csv.delimiter)] = DELIMITER;
    this.kind[LF] = ENDING;
    this.kind[CR] = ENDING;
    if (this.kind[0] === ORDINARY) this.kind[0] = NUL;
  }

  /**
   * Reads the next piece of the file. Its state lives in locals while a piece is read, the
   * common bytes (data, delimiters and line endings outside quotes) first, and a quoted field is
   * passed over with a search for its quote: this pass reads every byte of every CSV file.
   */
  feed(chunk: Buffer): void {
    const { kind, quote, escape, doubled, fields, headLines } = this;
    const n = chunk.length;
    let { at, count, content, fieldStart, contentBeforeSpace, recordStart, blank, line, commentLine, open, afterQuote } = this;
    const offset = this.offset;
    let i = 0;
    // Where the next "\r" is, looked for once a comment needs it (-2: not yet).
    let cr = -2;
    // Records of a piece that is not all UTF-8 are checked one by one (DuckDB's refusal of each
    // costs as a misfit's does); one that starts in an earlier piece is left to it.
    const notText = !this.isTextPiece(chunk);
    if (offset === 0 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) recordStart = i = 3;
    for (; i < n; i++) {
      if (at === At.Unquoted) {
        // Data and delimiters, most bytes of most files, in a loop of their own.
        let k = ORDINARY;
        for (; i < n; i++) {
          k = kind[chunk[i]!]!;
          if (k === ORDINARY) {
            fieldStart = INSIDE;
            blank = false;
            content = count;
          } else if (k === DELIMITER) {
            count++;
            fieldStart = FIELD_START;
            blank = false;
          } else if (k === SPACE && fieldStart === INSIDE) content = count;
          else break;
        }
        if (i === n) break;
        if (k === ENDING) {
          const end = offset + i;
          if (line > headLines && end > recordStart && !commentLine) {
            // A record spanning lines whose quote closes before other text is DuckDB's to refuse, as one reject (convert.ts refuseUnclosedQuote tells it from a quote never closed).
            const why: Why | undefined =
              afterQuote && recordStart >= offset && !chunk.subarray(recordStart - offset, i).includes(LF) && !chunk.subarray(recordStart - offset, i).includes(CR)
                ? 'quote'
                : count < fields || content > fields
                  ? 'fields'
                  : notText && recordStart >= offset && !isUtf8(chunk.subarray(recordStart - offset, i))
                    ? 'encoding'
                    : undefined;
            if (why) {
              this.tooMany();
              this.found.push({ line, fields: count, start: recordStart, end, next: end, why });
              open = true;
            }
          }
          afterQuote = false;
          line++;
          count = 1;
          content = 0;
          fieldStart = FIELD_START;
          blank = true;
          commentLine = false;
          if (chunk[i] === CR) at = At.AfterCr;
          else {
            recordStart = end + 1;
            if (open) open = this.startsAt(recordStart);
          }
        } else if (k === QUOTE) {
          if (fieldStart === ONE_SPACE_IN) content = contentBeforeSpace;
          if (fieldStart !== INSIDE) at = At.Quoted;
          fieldStart = INSIDE;
          blank = false;
        } else if (k === ESCAPE) {
          fieldStart = INSIDE;
          blank = false;
          content = count;
        } else if (k === SPACE) {
          if (fieldStart === FIELD_START && chunk[i] === 0x20) {
            contentBeforeSpace = content;
            fieldStart = ONE_SPACE_IN;
          } else fieldStart = INSIDE;
          content = count;
        } else if (k === NUL) {
          fieldStart = INSIDE;
          blank = false;
        } else {
          // DuckDB skips a line that starts with a comment (after spaces) and reads a line only up to one.
          if (blank) commentLine = true;
          at = At.Comment;
        }
      } else if (at === At.Quoted) {
        const k = kind[chunk[i]!]!;
        if (k === QUOTE) at = doubled ? At.QuoteInQuotes : At.Closed;
        else if (k === ESCAPE) at = At.EscapeInQuotes;
        // A NUL is no value inside quotes too: `"\0"` past the file's fields is an empty one.
        else if (k !== NUL) {
          content = count;
          const next = nextOf(chunk, quote, escape, i + 1);
          i = (next < 0 ? n : next) - 1;
        }
      } else if (at === At.EscapeInQuotes) {
        at = At.Quoted;
        content = count;
        const k = kind[chunk[i]!]!;
        if (k !== QUOTE && k !== ESCAPE) i--;
      } else if (at === At.QuoteInQuotes) {
        if (kind[chunk[i]!] === QUOTE) {
          at = At.Quoted;
          content = count;
        } else {
          at = At.Closed;
          i--;
        }
      } else if (at === At.Closed) {
        const b = chunk[i]!;
        const k = kind[b]!;
        // Spaces may follow a closing quote; a tab may not.
        if (k !== DELIMITER && k !== ENDING && b === 0x20) continue;
        // DuckDB refuses a record with other text after a closing quote; a comment is left to it.
        if (k !== DELIMITER && k !== ENDING && k !== COMMENT) afterQuote = true;
        at = At.Unquoted;
        fieldStart = INSIDE;
        i--;
      } else if (at === At.Comment) {
        // The next "\r" is searched again only once passed: a piece without one is searched once.
        if (cr === -2 || (cr >= 0 && cr < i)) cr = chunk.indexOf(CR, i);
        const lf = chunk.indexOf(LF, i);
        const next = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
        if (next < 0) i = n;
        else {
          at = At.Unquoted;
          i = next - 1;
        }
      } else {
        // After a "\r": a "\n" ends the same line.
        at = At.Unquoted;
        recordStart = offset + i + (chunk[i] === LF ? 1 : 0);
        if (open) open = this.startsAt(recordStart);
        if (chunk[i] !== LF) i--;
      }
    }
    Object.assign(this, { at, count, content, fieldStart, contentBeforeSpace, recordStart, blank, line, commentLine, open, afterQuote });
    const inQuotes = at === At.Quoted || at === At.EscapeInQuotes;
    this.quotedTail = inQuotes && recordStart >= offset ? Buffer.from(chunk.subarray(recordStart - offset)) : undefined;
    this.offset += n;
  }

  private tooMany(): void {
    if (this.budget.left-- <= 0)
      throw new SourceError(
        `holds records that are not UTF-8 text or whose field count is not its first record's ${this.fields}, more than the ${MAX_MISFITS} a task's files may hold together: check the transform's delimiter and quote, and the file's encoding`,
      );
  }

  /** Whether the piece's bytes are UTF-8, a character cut at its end checked with the next piece. */
  isTextPiece(chunk: Buffer): boolean {
    let whole = chunk.length;
    // A character's bytes after the first are 10xxxxxx: a cut one ends in its first three bytes.
    for (let back = 1; back <= 3 && back <= chunk.length; back++) {
      const byte = chunk[chunk.length - back]!;
      if (byte < 0x80) break;
      if (byte >= 0xc0) {
        whole = chunk.length - back;
        break;
      }
    }
    // The cut character is checked whole with the bytes that end it, the rest of the piece as it is.
    let ends = 0;
    if (this.cutCharacter.length > 0) while (ends < 3 && ends < whole && (chunk[ends]! & 0xc0) === 0x80) ends++;
    const cut = this.cutCharacter.length > 0 ? isUtf8(Buffer.concat([this.cutCharacter, chunk.subarray(0, ends)])) : true;
    this.cutCharacter = Buffer.from(chunk.subarray(whole));
    return cut && isUtf8(chunk.subarray(ends, whole));
  }

  /** Ends the scan: a record still inside quotes is left to DuckDB. */
  end(): Misfit[] {
    const inQuotes = this.at === At.Quoted || this.at === At.EscapeInQuotes;
    const { count, content, fields, line, headLines, recordStart, offset } = this;
    if (inQuotes && line > headLines && !this.commentLine && this.quotedTail) {
      // DuckDB drops such a record without a word in some reads of several files: it is judged here.
      // On one line (its last line ending aside) it is one reject; spanning lines, its file is refused.
      const endings = trailingEndings(this.quotedTail);
      const text = this.quotedTail.subarray(0, this.quotedTail.length - endings);
      if (text.includes(LF) || text.includes(CR)) throw new UnclosedQuoteError(line);
      this.tooMany();
      this.found.push({ line, fields: count, start: recordStart, end: offset - endings, next: offset, why: 'open' });
    } else if (!inQuotes && this.at !== At.AfterCr && offset > recordStart && line > headLines && !this.commentLine && isMisfit(count, content, fields)) {
      this.found.push({ line, fields: count, start: recordStart, end: offset, next: offset, why: 'fields' });
    }
    if (this.open) this.startsAt(offset);
    return this.found;
  }

  /** Where the last misfit's line ending ends: the next record's start. */
  private startsAt(next: number): false {
    this.found.at(-1)!.next = next;
    return false;
  }
}

/** How many line-ending bytes end the buffer. */
function trailingEndings(bytes: Buffer): number {
  let n = 0;
  while (n < bytes.length && (bytes[bytes.length - 1 - n] === LF || bytes[bytes.length - 1 - n] === CR)) n++;
  return n;
}

/** A quote opened on `line` (as DuckDB numbers lines) and never closed, the lines after it inside: the file is refused. */
export class UnclosedQuoteError extends SourceError {
  constructor(readonly line: number) {
    super(`a quoted field opens on line ${line} and no quote closes it`);
  }
}

/**
 * Every record after the skipped head that DuckDB would refuse for its field count (isMisfit), read
 * as DuckDB reads records (csv-fields.ts scanRecord, over bytes): a quote opens a quoted field
 * only at a field's start, a line ending inside quotes is data, a record ends at "\n", "\r\n" or
 * "\r". A record the file ends inside quotes of is one too on one line, and refuses its file
 * (UnclosedQuoteError) across lines.
 */
async function misfits(file: string, csv: CsvOptions, fields: number, headLines: number, budget: MisfitBudget): Promise<Misfit[]> {
  const records = new RecordScan(csv, fields, headLines, budget);
  for await (const chunk of scan(file)) records.feed(chunk);
  return records.end();
}

/** Text of a file's misfit records kept for the quarantine, at most; past it, a record's text is not kept. */
export const MISFIT_RAW_BYTES = 8 * 1024 * 1024;

/** A misfit record as read: its line in the file DuckDB reads, its field count, its text where kept. */
export interface JudgedMisfit {
  readonly line: number;
  readonly fields: number;
  readonly raw: string | null;
  readonly why: Why;
}

/** Why a record judged for other than its field count is rejected. */
const REASONS = {
  encoding: 'INVALID ENCODING: the record holds bytes that are not UTF-8 text (Inlet reads UTF-8, and UTF-16 with a byte order mark)',
  quote: 'UNQUOTED VALUE: a quoted field is followed by other text before its delimiter (a quote inside a quoted field is doubled, or escaped with the escape byte)',
  open: 'UNQUOTED VALUE: the file ends inside a quoted field this record opens (a quote inside a quoted field is doubled, or escaped with the escape byte)',
} as const;

/**
 * The file's bytes with each misfit record left out, its line ending with it if `whole` (see
 * LeftOut), its text kept in `raws` (in order) within MISFIT_RAW_BYTES.
 */
async function* without(file: string, found: readonly Misfit[], whole: boolean, raws: (string | null)[]): AsyncIterable<Buffer> {
  let offset = 0;
  let k = 0;
  let budget = MISFIT_RAW_BYTES;
  let pieces: Buffer[] | undefined;
  for await (const chunk of scan(file)) {
    const chunkEnd = offset + chunk.length;
    let p = offset;
    while (p < chunkEnd) {
      const record = found[k];
      if (!record || record.start >= chunkEnd) {
        yield Buffer.from(chunk.subarray(p - offset));
        break;
      }
      if (record.start > p) yield Buffer.from(chunk.subarray(p - offset, record.start - offset));
      if (record.start >= p) pieces = record.end - record.start <= budget ? [] : undefined;
      pieces?.push(Buffer.from(chunk.subarray(Math.max(record.start, p) - offset, Math.min(record.end, chunkEnd) - offset)));
      const end = whole ? record.next : record.end;
      p = Math.min(end, chunkEnd);
      if (end <= chunkEnd) {
        k++;
        raws.push(pieces ? Buffer.concat(pieces).toString('utf8') : null);
        if (pieces) budget -= record.end - record.start;
      }
    }
    offset = chunkEnd;
  }
}

/**
 * Whether DuckDB may read the file strictly, its records not judged first (ReadGroup.unjudged):
 * where it refuses a record, the read fails and the records are judged then. That holds only
 * where its reader fails rather than errs otherwise: bytes that are not UTF-8 can fail its
 * reader's internal checks, which leaves its whole instance unusable; a file that ends inside a
 * quoted field, in a read of several files, can lose that record without a word; a "\r" that
 * does not end every line with a "\n" can end lines unevenly, which it may read as one line,
 * refusing nothing; and where a comment byte is set, it reads some lines otherwise than the scan
 * (docs/transforms.md). Nor is a file whose last record is a misfit read strictly: a file cut
 * short while written ends in one, and the strict read would fail only after reading the whole
 * chunk. Looked at natively, from quote to quote and line ending to line ending, and at the last
 * line: the records are not read. `fields` is the file's records' field count, if it has one.
 */
export async function mayReadStrictly(file: string, csv: CsvOptions, fields: number | undefined): Promise<boolean> {
  if (csv.comment !== undefined && csv.comment !== '') return false;
  const quotes = csv.quote === '' ? undefined : OpenQuote.of(csv);
  if (csv.quote !== '' && !quotes) return false;
  const text = new RecordScan(LINE_FIELDS, 1, 0);
  const tail = new Tail();
  const endings = new EvenLineEndings();
  for await (const chunk of scan(file)) {
    endings.feed(chunk);
    if (endings.uneven || !text.isTextPiece(chunk)) return false;
    quotes?.feed(chunk);
    tail.feed(chunk);
  }
  return endings.even && !quotes?.inside && !(fields !== undefined && lastLineMisfits(tail, csv, fields));
}

/** The last bytes of a file fed piece by piece: enough to hold its last line, unless that line is long. */
class Tail {
  static readonly BYTES = 64 * 1024;
  bytes = Buffer.alloc(0);
  /** Whether `bytes` is the whole file. */
  whole = true;

  feed(chunk: Buffer): void {
    const kept = this.bytes.length + chunk.length > Tail.BYTES;
    this.bytes = chunk.length >= Tail.BYTES ? Buffer.from(chunk.subarray(chunk.length - Tail.BYTES)) : Buffer.concat([this.bytes, chunk]).subarray(-Tail.BYTES);
    if (kept) this.whole = false;
  }
}

/**
 * Whether the file's last line that holds anything is a record DuckDB refuses for its field
 * count (isMisfit). Only a line without a quote byte is judged: one with a quote may be part of a
 * record that spans lines, left to the strict read. Within a file that does not end inside
 * quotes, a line without one is a record of its own.
 */
function lastLineMisfits(tail: Tail, csv: CsvOptions, fields: number): boolean {
  const { bytes } = tail;
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === LF || bytes[end - 1] === CR)) end--;
  if (end === 0) return false;
  const start = Math.max(bytes.lastIndexOf(LF, end - 1), bytes.lastIndexOf(CR, end - 1)) + 1;
  // A last line longer than the tail is left to the strict read.
  if (start === 0 && !tail.whole) return false;
  const line = bytes.subarray(start, end);
  const quote = byteOf(csv.quote);
  if (quote !== NONE && line.includes(quote)) return false;
  const delimiter = byteOf(csv.delimiter);
  let count = 1;
  let content = 0;
  // A NUL is no value, as the scan reads it.
  for (const byte of line) {
    if (byte === delimiter) count++;
    else if (byte !== 0) content = count;
  }
  return isMisfit(count, content, fields);
}

/** Whether the file holds the byte, or bytes that are not UTF-8 (looked at natively: the records are not read). */
async function holdsOrNotText(file: string, byte: number): Promise<boolean> {
  const text = new RecordScan(LINE_FIELDS, 1, 0);
  for await (const chunk of scan(file)) if (chunk.includes(byte) || !text.isTextPiece(chunk)) return true;
  return false;
}

export const misfitReason = (fields: number, expected: number) =>
  `${fields > expected ? 'TOO MANY COLUMNS' : 'MISSING COLUMNS'}: the record has ${fields} fields and the file's records have ${expected} (its first record's count)`;

/**
 * The rejected records the misfits are, each at `lineOf(misfit)` of the original file, left out
 * `how`. A short record's column is its first missing one, as DuckDB names it.
 */
export function judgedLines(misfits: readonly JudgedMisfit[], expected: number, transform: Transform, lineOf: (misfit: JudgedMisfit) => number, how: LeftOut): DroppedLine[] {
  // One reason string per field count, however many records share it.
  const reasons = new Map<number, string>();
  const reasonOf = (fields: number) => reasons.get(fields) ?? reasons.set(fields, misfitReason(fields, expected)).get(fields)!;
  return misfits.map((misfit) => {
    const judged =
      misfit.why === 'fields'
        ? { line: lineOf(misfit), reason: reasonOf(misfit.fields), column: misfit.fields < expected ? readerColumn(transform, `c${misfit.fields}`) : null, raw: misfit.raw }
        : { line: lineOf(misfit), reason: REASONS[misfit.why], column: null, raw: misfit.raw };
    if (how === 'removed') return { ...judged, removed: true };
    return how === 'blank-skipped' ? { ...judged, removed: false, blankedAt: misfit.line } : { ...judged, removed: false };
  });
}

/**
 * How a misfit record leaves the file DuckDB reads. A blank line DuckDB skips where a CSV record
 * has two fields or more (the lines after it keep their numbers, but it yields no record: see
 * DroppedLine.blankedAt); NDJSON's blank line is a row DuckDB reads and Inlet then skips. A
 * one-field CSV would read a blank line as a NULL record: there the line goes whole.
 */
export type LeftOut = 'blank-skipped' | 'blank-read' | 'removed';
export const leftOutHow = (shape: 'csv' | 'lines', fields: number): LeftOut => (shape === 'lines' ? 'blank-read' : fields >= 2 ? 'blank-skipped' : 'removed');

/**
 * Leaves out the records of a CSV file (or the lines of an NDJSON one, with LINE_FIELDS) that
 * DuckDB would refuse for their field count (isMisfit) before it reads the file, copying the file
 * to `dest` without them, as `how` says, when it has any. Each is a rejected record (see judgedLine).
 */
export async function leaveOutMisfits(file: string, dest: string, csv: CsvOptions, fields: number, headLines: number, how: LeftOut, budget = new MisfitBudget()): Promise<{ path: string; misfits: JudgedMisfit[] }> {
  // Without quotes a record has a field per delimiter and one: in a UTF-8 file holding no delimiter, every record has one.
  if (byteOf(csv.quote) === NONE && fields === 1 && !(await holdsOrNotText(file, byteOf(csv.delimiter)))) return { path: file, misfits: [] };
  const found = await misfits(file, csv, fields, headLines, budget);
  if (found.length === 0) return { path: file, misfits: [] };
  const raws: (string | null)[] = [];
  await pipeline(without(file, found, how === 'removed', raws), outputFile(dest));
  return { path: dest, misfits: found.map((m, i) => ({ line: m.line, fields: m.fields, raw: raws[i] ?? null, why: m.why })) };
}
