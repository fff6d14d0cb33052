import { writeFile } from 'node:fs/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import { BUNDLE_PREFIX_BYTES } from '../transform/bookkeeping.js';
import type { ReadGroup } from './convert.js';
import { MAX_LOOK } from './first-bytes.js';
import { jsonShapeOf } from './json-shape.js';

/**
 * Small NDJSON objects are held in memory as they are fetched and written together as one
 * bundle file, each line led by its object's file number: DuckDB then reads one file instead of a
 * thousand, and no file is written, looked at and removed per object. The lines read as they would
 * from the objects' own files: the same records, the same line numbers, the same rejects.
 */

/** Decoded bytes one chunk holds in memory for its bundle at most; past them, objects are written to files as before. */
export const BUNDLE_HOLD_BYTES = 64 * 1024 * 1024;

/** What a chunk may still hold in memory: one per chunk, shared by its downloads. */
export class HoldBudget {
  private left: number;
  constructor(bytes: number = BUNDLE_HOLD_BYTES) {
    this.left = bytes;
  }
  /** Takes `bytes` from the budget if they fit. */
  take(bytes: number): boolean {
    if (bytes > this.left) return false;
    this.left -= bytes;
    return true;
  }
}

/** An object's decoded bytes, held instead of written, with its file number in the chunk. */
export interface HeldObject {
  readonly number: number;
  readonly data: Buffer;
}

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const NEWLINE = Buffer.from([LF]);

/**
 * Writes the held NDJSON objects into one bundle at `dest` and answers its read group; the
 * objects that are not NDJSON lines (arrays, documents), or have a line past the limit (taken
 * out of their files as before), come back in `others` for the caller to write out.
 */
export async function bundleLines(held: readonly HeldObject[], dest: string, maxLineBytes: number): Promise<{ group: ReadGroup | undefined; others: HeldObject[] }> {
  const others: HeldObject[] = [];
  const pieces: Buffer[] = [];
  const numbers: number[] = [];
  const starts: number[] = [];
  let line = 1;
  for (const object of held) {
    if (hasLongLine(object.data, maxLineBytes) || jsonShapeOf(object.data.subarray(0, MAX_LOOK)) !== 'lines') {
      others.push(object);
      continue;
    }
    numbers.push(object.number);
    starts.push(line);
    line += appendLines(pieces, object);
  }
  if (numbers.length === 0) return { group: undefined, others };
  await writeFile(dest, Buffer.concat(pieces));
  const group: ReadGroup = { files: [dest], numbers, shape: 'lines', csvFieldCount: 0, maxLineBytes, longLines: numbers.map(() => []), bundleStarts: starts };
  return { group, others };
}

/** Whether a line holds more than `maxBytes` bytes before its "\n", as long-lines.ts counts them. */
function hasLongLine(data: Buffer, maxBytes: number): boolean {
  if (data.length <= maxBytes) return false;
  let start = 0;
  for (let newline = data.indexOf(LF); newline >= 0; newline = data.indexOf(LF, start)) {
    if (newline - start > maxBytes) return true;
    start = newline + 1;
  }
  return data.length - start > maxBytes;
}

/**
 * Appends an object's lines, each led by its number, and answers how many. As DuckDB reads a
 * file: a BOM at its start is not data, a line ends at "\n" or "\r\n", no line follows a final
 * newline. A lone "\r" (JSON whitespace; DuckDB fails a file on it) reads as a space, as in the
 * even copy of line-endings.ts.
 */
function appendLines(pieces: Buffer[], object: HeldObject): number {
  const data = object.data;
  const prefix = Buffer.from(`${object.number}\u0001`);
  if (prefix.length > BUNDLE_PREFIX_BYTES) throw new Error(`file number ${object.number} is too long for a bundle's prefix`);
  const hasCr = data.includes(CR);
  let start = data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf ? 3 : 0;
  let lines = 0;
  while (start < data.length) {
    const newline = data.indexOf(LF, start);
    const end = newline < 0 ? data.length : newline;
    let text = data.subarray(start, end);
    if (hasCr) text = withoutCarriageReturns(text);
    pieces.push(prefix, text, NEWLINE);
    lines++;
    start = end + 1;
  }
  return lines;
}

/** A line without the "\r" of its "\r\n" ending, its other "\r"s as spaces. */
function withoutCarriageReturns(text: Buffer): Buffer {
  if (!text.includes(CR)) return text;
  const copy = Buffer.from(text.at(-1) === CR ? text.subarray(0, -1) : text);
  for (let i = copy.indexOf(CR); i >= 0; i = copy.indexOf(CR, i + 1)) copy[i] = SPACE;
  return copy;
}

/**
 * Makes the reject table of a bundle's read name each refused line as a read of the objects'
 * own files would: its file's index in the group, its line in that file, the line without its
 * prefix, the column without the bundle's first one. Run right after the read.
 */
export async function unbundleRejects(connection: DuckDBConnection, errors: string, starts: readonly number[]): Promise<void> {
  const found = `regexp_extract(error_message, 'Found: (\\d+)', 1)`;
  // An empty file starts where the next one does and holds no line: it is left out.
  const firsts = starts.flatMap((first, j) => (first === starts[j + 1] ? [] : [`(${j}, ${first})`]));
  await connection.run(
    `CREATE OR REPLACE TEMP TABLE ${errors} AS
     SELECT e.* REPLACE (
       s.j::UBIGINT AS file_id,
       (e.line - s.first + 1)::UBIGINT AS line,
       (e.column_idx - 1)::UBIGINT AS column_idx,
       CASE WHEN e.csv_line IS NULL THEN NULL ELSE substr(e.csv_line, strpos(e.csv_line, chr(1)) + 1) END AS csv_line,
       CASE WHEN e.error_type = 'TOO MANY COLUMNS' AND ${found} <> ''
            THEN 'Expected Number of Columns: 1 Found: ' || (${found}::BIGINT - 1) ELSE e.error_message END AS error_message
     )
     FROM ${errors} e ASOF JOIN (SELECT * FROM (VALUES ${firsts.join(', ')}) v(j, first)) s ON e.line >= s.first`,
  );
}
