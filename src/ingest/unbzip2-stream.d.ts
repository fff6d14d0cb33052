// unbzip2-stream's block decoder, without its stream (which decodes all it is given at once, whatever the reader asks).
declare module 'unbzip2-stream/lib/bzip2.js' {
  /** Reads `n` bits (at most 32) as an integer; `null` skips to the next byte boundary. */
  type Bits = (n: number | null) => number;
  const bzip2: {
    /** Reads a stream header ("BZh" and the level): answers the block size in 100 kB. */
    header(bits: Bits): number;
    /**
     * Decodes one block, calling `write` with each byte, or reads the end-of-stream marker
     * (answering null). `buf` holds 100 000 x level entries; `crc` is the stream's CRC so far.
     */
    decompress(bits: Bits, write: (byte: number) => void, buf: Int32Array, bufsize: number, crc: number): number | null;
  };
  export default bzip2;
}
