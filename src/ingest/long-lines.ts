import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { outputFile } from './decompress.js';

/** The default longest line (CSV or NDJSON record) Inlet reads: INLET_MAX_LINE_BYTES. */
export const DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024;

/** A record judged before DuckDB reads the file: its line as DuckDB numbers them, and why it is rejected. */
export interface DroppedLine {
  readonly line: number;
  /**
   * False where a blank line replaces it (lines of the skipped head, misfit-records.ts), so the
   * lines after it keep their numbers; true where it is taken out of the file.
   */
  readonly removed: boolean;
  readonly reason: string;
  /** The output column the reason is about, if one. */
  readonly column?: string | null;
  /** The record's text for the quarantine, where it was kept. */
  readonly raw?: string | null;
  /**
   * Where a blank line replaces a record after the skipped head: its line in the file DuckDB
   * reads, which yields no record (as a line DuckDB refuses), so the records after it are placed.
   */
  readonly blankedAt?: number;
}

interface Span {
  readonly line: number;
  readonly bytes: number;
  /** Byte offsets of the line, its line ending included. */
  readonly start: number;
  readonly end: number;
}

const READ_OPTIONS = { highWaterMark: 1024 * 1024 };

/**
 * A file's bytes in pieces read into one buffer, each valid only until the next is read: the
 * checks below look at every byte of every file and keep none, and a stream's fresh buffer per
 * piece cost them several times the read (docs/benchmarks.md, "Shape matrix").
 */
export async function* scan(file: string): AsyncIterable<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(READ_OPTIONS.highWaterMark);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) return;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

const longLineReason = (bytes: number, maxBytes: number) => `line longer than ${maxBytes} bytes (it has ${bytes}): the longest line Inlet reads is INLET_MAX_LINE_BYTES`;

/**
 * Whether some line holds more than `maxBytes` bytes before its "\n". Every file is checked, so
 * it makes one backward search per window of at most `maxBytes` instead of one per line.
 */
export async function hasLongLine(file: string, maxBytes: number): Promise<boolean> {
  // A file no longer than the limit has no line longer than it (most files of small-file loads).
  if ((await stat(file)).size <= maxBytes) return false;
  // Bytes of the current line seen in earlier chunks.
  let run = 0;
  for await (const chunk of scan(file)) {
    let p = 0;
    for (;;) {
      // The line going on at p fits if its "\n" is at `reach` or before; every line ending between
      // p and the last "\n" up to reach is shorter than that window.
      const reach = p + maxBytes - run;
      const newline = chunk.lastIndexOf(0x0a, Math.min(reach, chunk.length - 1));
      if (newline >= p) {
        p = newline + 1;
        run = 0;
        if (p >= chunk.length) break;
        continue;
      }
      if (reach < chunk.length) return true;
      run += chunk.length - p;
      break;
    }
  }
  return false;
}

/** Each line longer than `maxBytes`, with where it is: a second, line-by-line pass for the files that have one. */
async function longSpans(file: string, maxBytes: number): Promise<Span[]> {
  const spans: Span[] = [];
  let line = 1;
  let start = 0;
  let offset = 0;
  for await (const chunk of scan(file)) {
    let p = 0;
    for (let newline = chunk.indexOf(0x0a, p); newline >= 0; newline = chunk.indexOf(0x0a, p)) {
      const end = offset + newline + 1;
      if (end - 1 - start > maxBytes) spans.push({ line, bytes: end - 1 - start, start, end });
      line++;
      start = end;
      p = newline + 1;
    }
    offset += chunk.length;
  }
  if (offset - start > maxBytes) spans.push({ line, bytes: offset - start, start, end: offset });
  return spans;
}

/** The file's bytes without the spans, a span within the head kept as an empty line (the reader skips it by count). */
async function* without(file: string, spans: readonly Span[], headLines: number): AsyncIterable<Buffer> {
  let offset = 0;
  let k = 0;
  for await (const chunk of createReadStream(file, READ_OPTIONS) as AsyncIterable<Buffer>) {
    const chunkEnd = offset + chunk.length;
    let p = offset;
    while (p < chunkEnd) {
      const span = spans[k];
      if (!span || span.start >= chunkEnd) {
        yield chunk.subarray(p - offset);
        break;
      }
      if (span.start > p) yield chunk.subarray(p - offset, span.start - offset);
      if (span.start >= p && span.line <= headLines) yield Buffer.from('\n');
      p = Math.min(span.end, chunkEnd);
      if (span.end <= chunkEnd) k++;
    }
    offset = chunkEnd;
  }
}

/**
 * Takes lines longer than `maxBytes` out of a line-based file (CSV, NDJSON) before DuckDB reads it:
 * DuckDB's CSV reader drops a line longer than its buffer without a word, so each such line must
 * be rejected here, with its number. Most files have none and are used as they are; a file that
 * has some is copied to `dest` without them. A long line in the skipped head is rejected too (a
 * file of one 200 MB line must not load as "0 read"), and an empty line keeps its place.
 */
export async function dropLongLines(file: string, dest: string, maxBytes: number, headLines: number): Promise<{ path: string; longLines: DroppedLine[] }> {
  if (!(await hasLongLine(file, maxBytes))) return { path: file, longLines: [] };
  const spans = await longSpans(file, maxBytes);
  await pipeline(without(file, spans, headLines), outputFile(dest));
  return { path: dest, longLines: spans.map(({ line, bytes }) => ({ line, removed: line > headLines, reason: longLineReason(bytes, maxBytes) })) };
}

/**
 * Where a line of the file DuckDB read is in the original file: each dropped line before it
 * moves it one down (`dropped` sorted by line, as dropLongLines returns them).
 */
export function originalLine(line: number, dropped: readonly DroppedLine[]): number {
  let original = line;
  for (const d of dropped) {
    if (!d.removed) continue;
    if (d.line <= original) original++;
    else break;
  }
  return original;
}
