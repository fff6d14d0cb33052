import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { CsvOptions } from '../transform/model.js';
import { outputFile } from './decompress.js';
import { firstBytes } from './first-bytes.js';

/** What the first bytes of a CSV file tell before DuckDB reads it. */
export interface CsvLook {
  /** Fields of the first data record; undefined when the bytes hold none. */
  readonly fields: number | undefined;
  /**
   * Set when the skipped head must be blanked before DuckDB reads the file (blankHead): the head's
   * length in bytes and the line ending its blank lines take. A line of it that opens a quoted
   * field it does not close would make DuckDB read the rest of the file as that field (it skips
   * records, not lines); one with text after a closing quote (`"a"x`), a record it would refuse,
   * makes its skip read no record at all; a comment line is not counted by its skip, which skips
   * a record in its place; and a line that ends otherwise than the first record makes it read the
   * records after it as part of the head (it takes the first line's ending as every line's). Each
   * loses records without a word.
   */
  readonly headToBlank: HeadToBlank | undefined;
}

export interface HeadToBlank {
  /** Bytes of the head and the blank lines after it. */
  readonly bytes: number;
  /** Their lines, each written empty. */
  readonly lines: number;
  readonly lineEnding: LineEnding;
}

type LineEnding = '\n' | '\r\n' | '\r';

/**
 * Where each line of `text` ends, and its ending ("\n", "\r\n" or a lone "\r", as DuckDB takes a
 * file's lines); undefined when the text ends first. Asked line by line from the start: the next
 * "\r" is searched again only once passed, so a text without one is searched for it once.
 */
function lineEnds(text: string): (pos: number) => { end: number; ending: LineEnding } | undefined {
  let cr = -2;
  return (pos) => {
    if (cr === -2 || (cr >= 0 && cr < pos)) cr = text.indexOf('\r', pos);
    const lf = text.indexOf('\n', pos);
    if (cr >= 0 && (lf < 0 || cr < lf)) return { end: cr, ending: text[cr + 1] === '\n' ? '\r\n' : '\r' };
    return lf < 0 ? undefined : { end: lf, ending: '\n' };
  };
}

/**
 * Counts the fields of the first data record, so files with more fields than the transform maps
 * still load, while records whose field count differs from the file's are rejected by DuckDB;
 * and checks the skipped head lines, which must end where the reader thinks they do.
 */
export async function lookAtCsv(file: string, csv: CsvOptions): Promise<CsvLook> {
  const handle = await open(file, 'r');
  try {
    const seen = await firstBytes(handle, (bytes) => firstRecord(bytes.toString('utf8'), csv).complete);
    const { fields, headToBlank } = firstRecord(seen.toString('utf8'), csv);
    return { fields, headToBlank };
  } finally {
    await handle.close();
  }
}

/**
 * A copy of the file at `dest` with the skipped head's lines (and the blank lines after it) empty,
 * each ending in `head.lineEnding`: the reader still skips them by count, no quote in them can
 * open a field that swallows the records after them, and their endings are those of the records.
 */
export async function blankHead(file: string, dest: string, head: HeadToBlank): Promise<string> {
  async function* blanked(): AsyncIterable<Buffer> {
    yield Buffer.from(head.lineEnding.repeat(head.lines));
    yield* createReadStream(file, { start: head.bytes, highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>;
  }
  await pipeline(blanked(), outputFile(dest));
  return dest;
}

/**
 * The first record after the skipped head, blank lines and comments: its field count, and whether
 * the text holds it whole (a quoted field may span lines); with the head to blank (CsvLook). The
 * blank lines right after the head are blanked with it: one that ends otherwise than the records
 * would join the blanked head's last line ending ("\r" and "\n" read as one "\r\n").
 */
function firstRecord(text: string, csv: CsvOptions): { fields: number | undefined; complete: boolean; headToBlank: HeadToBlank | undefined } {
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let skipped = 0;
  // A head line DuckDB's skip would count otherwise than as one line (see CsvLook.headToBlank).
  let misreadHead = false;
  // The head and the blank lines after it, until the first other line: their lines, where they end, and their endings.
  let lines = 0;
  let regionEnd = 0;
  const endings = new Set<LineEnding>();
  let headToBlank: HeadToBlank | undefined | null = null;
  const lineAt = lineEnds(text);
  // Once the first line past the head and its blank lines is met, with its ending (undefined when the text ends first).
  const blankBefore = (next: LineEnding | undefined): HeadToBlank | undefined => {
    const [first] = endings;
    const lineEnding = next ?? first ?? '\n';
    const uneven = endings.size > 1 || (first !== undefined && first !== lineEnding);
    return skipped > 0 && (misreadHead || uneven) ? { bytes: Buffer.byteLength(text.slice(0, regionEnd), 'utf8'), lines, lineEnding } : undefined;
  };
  while (pos < text.length) {
    const ending = lineAt(pos);
    const end = ending?.end ?? text.length;
    const line = text.slice(pos, end);
    const inRegion = headToBlank === null && (skipped < csv.skipHead || line === '');
    if (inRegion && ending) {
      endings.add(ending.ending);
      lines++;
      regionEnd = end + ending.ending.length;
    }
    if (skipped < csv.skipHead) {
      const record = scanRecord(text, pos, csv);
      if (record.open || record.end > end || record.afterQuote || isComment(line, csv)) misreadHead = true;
      skipped++;
    } else if (line !== '' && !isComment(line, csv)) {
      const record = scanRecord(text, pos, csv);
      if (headToBlank === null) headToBlank = blankBefore(record.end < text.length ? lineAt(record.end)?.ending : undefined);
      return { fields: record.fields, complete: !record.open && record.end < text.length, headToBlank };
    } else if (!inRegion && headToBlank === null) {
      // A comment line: the region ends before it.
      headToBlank = blankBefore(ending?.ending);
    }
    if (!ending) break;
    pos = end + ending.ending.length;
  }
  return { fields: undefined, complete: false, headToBlank: headToBlank ?? blankBefore(undefined) };
}

/** Whether DuckDB reads the line as a comment: it starts with the comment byte, after spaces and tabs. */
const isComment = (line: string, csv: CsvOptions) => csv.comment !== undefined && csv.comment !== '' && line.replace(/^[ \t]+/, '').startsWith(csv.comment);

/** Where the record starting at `start` of `text` ends: its line ending outside quotes, or the text's end. */
export const recordEnd = (text: string, start: number, csv: CsvOptions): number => scanRecord(text, start, csv).end;

/**
 * Reads one record from `start` as DuckDB does: a quote opens a quoted field only at the start of
 * a field or after one space there (elsewhere it is data), and the record ends at a line ending outside quotes. Answers its
 * field count, the last field holding anything (from 1; 0 if none: `""` is empty), where it ends
 * (its line ending, or the text's end), whether a quote is left open, and whether text follows a
 * closing quote (`"x"y`, which DuckDB refuses).
 */
export function scanRecord(text: string, start: number, csv: CsvOptions): { fields: number; content: number; end: number; open: boolean; afterQuote: boolean } {
  let fields = 1;
  let content = 0;
  let quoted = false;
  // 1 at a field's start, 2 after one space there (a quote still opens the field), 0 inside it.
  let fieldStart = 1;
  let contentBeforeSpace = 0;
  // After a closing quote, spaces, then the delimiter or the line ending: other text (a tab too) makes DuckDB refuse the record.
  let closed = false;
  let afterQuote = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (closed) {
      if (ch !== csv.delimiter && ch === ' ') continue;
      closed = false;
      if (ch !== csv.delimiter && ch !== '\n' && ch !== '\r' && ch !== csv.comment) afterQuote = true;
    }
    if (quoted) {
      // DuckDB lets an escape escape itself too: in `"a\\"` the last quote closes the field.
      if (ch === csv.escape && csv.escape !== csv.quote && (text[i + 1] === csv.quote || text[i + 1] === csv.escape)) {
        i++;
        content = fields;
      } else if (ch === csv.quote) {
        if (csv.escape === csv.quote && text[i + 1] === csv.quote) {
          i++;
          content = fields;
        } else {
          quoted = false;
          closed = true;
        }
      } else if (ch !== '\0') content = fields;
    } else if (ch === csv.delimiter) {
      fields++;
      fieldStart = 1;
    } else if (ch === '\n' || ch === '\r') return { fields, content, end: i, open: false, afterQuote };
    else if (ch === csv.comment) {
      // DuckDB reads a line only up to a comment outside quotes: the record ends with the line.
      const lf = text.indexOf('\n', i);
      const cr = text.indexOf('\r', i);
      const end = lf < 0 ? (cr < 0 ? text.length : cr) : cr < 0 ? lf : Math.min(lf, cr);
      return { fields, content, end, open: false, afterQuote };
    } else if (ch === csv.quote && fieldStart !== 0) {
      if (fieldStart === 2) content = contentBeforeSpace;
      quoted = true;
      fieldStart = 0;
    } else if (ch === ' ' && fieldStart === 1) {
      contentBeforeSpace = content;
      content = fields;
      fieldStart = 2;
    } else {
      // DuckDB reads a NUL as no value.
      if (ch !== '\0') content = fields;
      fieldStart = 0;
    }
  }
  return { fields, content, end: text.length, open: quoted, afterQuote };
}
