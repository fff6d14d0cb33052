import bzip2 from 'unbzip2-stream/lib/bzip2.js';

/** bzip2 levels count their block size in units of 100 kB of (run-length coded) input. */
const LEVEL_BYTES = 100_000;
/**
 * Encoded bytes buffered before a block is decoded: a block of random bytes codes to about 8 bits
 * a byte, at most 9, plus its tables. A block that needs more is decoded again once more came.
 */
const blockInputBytes = (level: number) => level * (LEVEL_BYTES + LEVEL_BYTES / 8) + 32 * 1024;
/** Decoded bytes are handed on in pieces of this size. */
const PIECE_BYTES = 256 * 1024;

/** Thrown by BitInput when a step reads past the bytes buffered; the step runs again once more has come. */
class InputShort {}

/** The encoded bytes as bits, from the start of the current step (a stream header or a block) on. */
class BitInput {
  private data = Buffer.alloc(0);
  private byte = 0;
  private bit = 0;
  private stepByte = 0;
  private stepBit = 0;
  ended = false;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  get buffered(): number {
    return this.data.length - this.byte;
  }

  /** Reads the next piece of input, keeping the current step's bytes; false at the end. */
  async more(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.source.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    this.data = Buffer.concat([this.data.subarray(this.stepByte), next.value]);
    this.byte -= this.stepByte;
    this.stepByte = 0;
    return true;
  }

  begin(): void {
    this.stepByte = this.byte;
    this.stepBit = this.bit;
  }

  rewind(): void {
    this.byte = this.stepByte;
    this.bit = this.stepBit;
  }

  readonly read = (n: number | null): number => {
    if (n === null) {
      if (this.bit !== 0) {
        this.bit = 0;
        this.byte++;
      }
      return 0;
    }
    let result = 0;
    while (n > 0) {
      if (this.byte >= this.data.length) throw new InputShort();
      const left = 8 - this.bit;
      const current = this.data[this.byte]!;
      if (n >= left) {
        result = (result << left) | (current & ((1 << left) - 1));
        this.bit = 0;
        this.byte++;
        n -= left;
      } else {
        result = (result << n) | ((current >> (left - n)) & ((1 << n) - 1));
        this.bit += n;
        n = 0;
      }
    }
    return result;
  };
}

/** Where a decode stops a block that decodes to more than `maxBlockBytes`, throwing `tooLarge()`. */
export interface BlockLimit {
  readonly maxBlockBytes: number;
  tooLarge(): Error;
}

/** One block's decoded bytes, gathered in pieces (a block decodes in one call). */
class BlockOutput {
  private readonly pieces: Buffer[] = [];
  private piece = Buffer.alloc(0);
  private at = 0;

  constructor(private readonly limit: BlockLimit | undefined) {}

  readonly write = (byte: number): void => {
    if (this.at === this.piece.length) this.nextPiece();
    this.piece[this.at++] = byte;
  };

  private nextPiece(): void {
    if (this.at > 0) this.pieces.push(this.piece);
    if (this.limit && (this.pieces.length + 1) * PIECE_BYTES > this.limit.maxBlockBytes) throw this.limit.tooLarge();
    this.piece = Buffer.allocUnsafe(PIECE_BYTES);
    this.at = 0;
  }

  finish(): Buffer[] {
    return this.at > 0 ? [...this.pieces, this.piece.subarray(0, this.at)] : this.pieces;
  }
}

/**
 * Decodes bzip2 (one stream or several back to back) one block at a time, each only once the
 * reader wants more: unbzip2-stream's stream decodes everything it is given at once and so
 * holds a small bomb's gigabytes in memory. A block is decoded in one synchronous call, and
 * bzip2's run-length coding lets one block stand for up to about 46 MB: both are what one
 * block costs, whatever the object's size; `limit` stops a block that decodes to more.
 */
export async function* bunzip2(source: AsyncIterable<Buffer>, limit?: BlockLimit): AsyncGenerator<Buffer> {
  const bits = new BitInput(source[Symbol.asyncIterator]());
  /** The current stream's block size in 100 kB; 0 before a stream's header. */
  let level = 0;
  let crc = 0;
  let work = new Int32Array(0);
  for (;;) {
    bits.begin();
    while (!bits.ended && bits.buffered < (level === 0 ? 4 : blockInputBytes(level))) await bits.more();
    if (level === 0 && bits.ended && bits.buffered === 0) return;
    const output = new BlockOutput(limit);
    try {
      if (level === 0) {
        level = bzip2.header(bits.read);
        crc = 0;
        if (work.length !== level * LEVEL_BYTES) work = new Int32Array(level * LEVEL_BYTES);
        continue;
      }
      const next = bzip2.decompress(bits.read, output.write, work, work.length, crc);
      if (next === null) level = 0;
      else crc = next;
    } catch (err) {
      if (!(err instanceof InputShort)) throw err;
      bits.rewind();
      if (!(await bits.more())) throw new Error('the data ends in the middle of a bzip2 stream: the object is cut short; upload it whole');
      continue;
    }
    yield* output.finish();
  }
}
