import type { CsvOptions } from '../transform/model.js';

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
/** No byte: an option that is not one ASCII byte. */
export const NONE = -1;
/** A byte before the file's first: a field starts there. */
const START = -2;

const enum At {
  Unquoted,
  Quoted,
  /** Inside quotes after a quote that closes the field unless a quote follows (escape = quote). */
  QuoteInQuotes,
  /** Inside quotes after an escape that escapes a quote or an escape, if one follows. */
  EscapeInQuotes,
}

/** The option's byte, NONE unless it is one ASCII byte. */
export const byteOf = (text: string) => (text.length === 1 && text.charCodeAt(0) < 0x80 ? text.charCodeAt(0) : NONE);

/**
 * Whether a CSV file, fed piece by piece, ends inside a quoted field, by the rules of the record
 * scan (misfit-records.ts RecordScan), which are DuckDB's: a quote opens a quoted field only at a
 * field's start or after one space there; inside, a doubled quote (escape = quote) or an escaped
 * quote or escape is data. It hops from quote to quote with the native search, so a file is read
 * at the speed of `indexOf`, not byte by byte: it is for files read without a comment byte, where
 * a line ends only at "\n", "\r\n" or "\r" and nothing else changes the quotes' meaning.
 */
export class OpenQuote {
  private at = At.Unquoted;
  /** The two bytes before the piece going on (START before the file's first). */
  private before1 = START;
  private before2 = START;
  private first = true;

  /** Undefined for options whose quote, escape or delimiter is not one ASCII byte: the hops cannot tell. */
  static of(csv: CsvOptions): OpenQuote | undefined {
    const doubled = csv.escape === csv.quote;
    const [quote, delimiter, escape] = [byteOf(csv.quote), byteOf(csv.delimiter), csv.escape === '' || doubled ? NONE : byteOf(csv.escape)];
    if (quote === NONE || delimiter === NONE || (csv.escape !== '' && !doubled && escape === NONE)) return undefined;
    return new OpenQuote(quote, escape, delimiter, doubled);
  }

  private constructor(
    private readonly quote: number,
    private readonly escape: number,
    private readonly delimiter: number,
    private readonly doubled: boolean,
  ) {}

  feed(chunk: Buffer): void {
    const n = chunk.length;
    // A byte order mark is no field's text: a quote after it opens the first field.
    const bom = this.first && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf ? 3 : 0;
    const byteAt = (p: number) => (p >= bom ? chunk[p]! : p >= 0 ? START : p === -1 ? this.before1 : this.before2);
    let i = bom;
    while (i < n) {
      if (this.at === At.Unquoted) {
        const q = chunk.indexOf(this.quote, i);
        if (q < 0) break;
        const b1 = byteAt(q - 1);
        if (this.startsField(b1) || (b1 === SPACE && this.startsField(byteAt(q - 2)))) this.at = At.Quoted;
        i = q + 1;
      } else if (this.at === At.Quoted) {
        const next = nextOf(chunk, this.quote, this.escape, i);
        if (next < 0) break;
        this.at = chunk[next] === this.quote ? (this.doubled ? At.QuoteInQuotes : At.Unquoted) : At.EscapeInQuotes;
        i = next + 1;
      } else if (this.at === At.QuoteInQuotes) {
        // A doubled quote is data; after any other byte, the quote before it closed the field.
        this.at = chunk[i] === this.quote ? At.Quoted : At.Unquoted;
        if (this.at === At.Quoted) i++;
      } else {
        // An escape escapes a quote or an escape; before another byte it is data.
        this.at = At.Quoted;
        if (chunk[i] === this.quote || chunk[i] === this.escape) i++;
      }
    }
    if (n > 0) [this.before2, this.before1, this.first] = [byteAt(n - 2), byteAt(n - 1), false];
  }

  /** Whether the file fed so far ends inside a quoted field. */
  get inside(): boolean {
    return this.at === At.Quoted || this.at === At.EscapeInQuotes;
  }

  /** Whether a field starts after this byte. */
  private startsField(byte: number): boolean {
    return byte === START || byte === this.delimiter || byte === LF || byte === CR;
  }
}

/** Where the next quote or escape is in `chunk` from `from`, -1 if none. */
export function nextOf(chunk: Buffer, quote: number, escape: number, from: number): number {
  const q = quote === NONE ? -1 : chunk.indexOf(quote, from);
  if (escape === NONE) return q;
  const e = chunk.indexOf(escape, from);
  return q < 0 ? e : e < 0 ? q : Math.min(q, e);
}
