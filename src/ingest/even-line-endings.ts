const LF = 0x0a;
const CR = 0x0d;

/**
 * Whether a file, fed piece by piece, ends its lines evenly: with no "\r" at all, or every line
 * with "\r\n". DuckDB takes the first line's ending for every line, so a "\r" anywhere else can
 * join lines, and records vanish into them without an error. Looked at natively, a line ending
 * at a time.
 */
export class EvenLineEndings {
  private sawCr = false;
  /** A "\n" without a "\r" before it. */
  private loneLf = false;
  /** A "\r" without a "\n" after it. */
  private loneCr = false;
  /** Whether the last piece ended in a "\r", whose "\n" would start the next. */
  private pendingCr = false;

  /** Whether the pieces fed so far already end their lines unevenly. */
  get uneven(): boolean {
    return this.sawCr && (this.loneLf || this.loneCr);
  }

  feed(chunk: Buffer): void {
    if (this.uneven) return;
    if (!chunk.includes(CR)) {
      if (this.pendingCr && chunk.length > 0) this.loneCr ||= chunk[0] !== LF;
      this.loneLf ||= chunk.indexOf(LF, this.pendingCr ? 1 : 0) >= 0;
      if (chunk.length > 0) this.pendingCr = false;
      return;
    }
    this.sawCr = true;
    for (let p = chunk.indexOf(LF); p >= 0 && !this.loneLf; p = chunk.indexOf(LF, p + 1)) this.loneLf = p === 0 ? !this.pendingCr : chunk[p - 1] !== CR;
    if (this.pendingCr) this.loneCr ||= chunk[0] !== LF;
    for (let p = chunk.indexOf(CR); p >= 0 && p < chunk.length - 1 && !this.loneCr; p = chunk.indexOf(CR, p + 1)) this.loneCr = chunk[p + 1] !== LF;
    this.pendingCr = chunk[chunk.length - 1] === CR;
  }

  get even(): boolean {
    return !this.sawCr || (!this.loneLf && !this.loneCr && !this.pendingCr);
  }
}
