import { isUtf8 } from 'node:buffer';
import { writeFile } from 'node:fs/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import { BUNDLE_PREFIX_BYTES } from '../transform/bookkeeping.js';
import { quoteLiteral } from '../transform/compile.js';
import type { CsvOptions, Transform } from '../transform/model.js';
import type { ReadGroup } from './convert.js';
import { scanRecord } from './csv-fields.js';
import { MAX_LOOK } from './first-bytes.js';
import { jsonShapeOf } from './json-shape.js';
import { mappedCsvFields } from './read-groups.js';
import { isMisfit, judgedLines, LINE_FIELDS, type JudgedMisfit } from './misfit-records.js';

/**
 * Small NDJSON and CSV objects are held in memory as they are fetched and written together as one
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

export interface Bundle {
  /** The read group of the bundle file; undefined when no object went into it. */
  readonly group: ReadGroup | undefined;
  /** Held objects left out of the bundle, for the caller to write to files of their own. */
  readonly others: HeldObject[];
}

/** Misfit records a bundle's objects may hold together (each is held in memory until the chunk is converted). */
const MAX_BUNDLED_MISFITS = 10_000;

/** The separator after an NDJSON line's file number: a byte JSON text never holds unescaped. */
const LINES_SEPARATOR = '\u0001';

/**
 * Writes the held objects that read line by line into one bundle at `dest` and answers its read
 * group. Left in `others`, read from their own files as before: objects with a line past the limit
 * (taken out of their files there) or bytes that are not UTF-8; for NDJSON, arrays and documents; for CSV, objects where a
 * record is not exactly one line (see csvLineRecords), or whose field count is not the bundle's.
 */
export async function bundleObjects(transform: Transform, held: readonly HeldObject[], dest: string, maxLineBytes: number): Promise<Bundle> {
  // An object that is not all UTF-8 is read from its own file, where its records that are not are judged (misfit-records.ts).
  const short = held.filter((object) => !hasLongLine(object.data, maxLineBytes) && isUtf8(object.data));
  const csv = transform.type === 'csv' ? transform.csv : undefined;
  let chosen: HeldObject[];
  let csvFieldCount = 0;
  // Per object, its misfit records (misfit-records.ts): each a blank line of the bundle, which DuckDB skips, and a rejected record.
  const misfits = new Map<HeldObject, readonly JudgedMisfit[]>();
  if (csv === undefined) {
    for (const object of short) if (jsonShapeOf(object.data.subarray(0, MAX_LOOK)) === 'lines') misfits.set(object, misfitLines(object.data));
    chosen = [...misfits.keys()];
    csvFieldCount = 1;
  } else if (!bundlesCsv(csv)) {
    chosen = [];
  } else {
    const fields = new Map(short.map((object) => [object, csvLineRecords(object.data, csv)]));
    for (const [object, found] of fields) if (found) misfits.set(object, found.misfits);
    // Objects without a record (a header alone) are read at the width the transform maps, as from their files.
    csvFieldCount = mostCommon([...fields.values()].flatMap((f) => (f?.fields === undefined ? [] : [f.fields]))) ?? mappedCsvFields(transform);
    // An object without records (a header alone) holds no line of the bundle's width to mismatch.
    chosen = short.filter((object) => fields.get(object) !== undefined && (fields.get(object)!.fields ?? csvFieldCount) === csvFieldCount);
  }
  // Objects past the bundle's share of misfits are judged from their own files, within the chunk's (MisfitBudget).
  let bundledMisfits = 0;
  chosen = chosen.filter((object) => {
    const count = misfits.get(object)?.length ?? 0;
    if (bundledMisfits + count > MAX_BUNDLED_MISFITS) return false;
    bundledMisfits += count;
    return true;
  });
  const inBundle = new Set(chosen);
  const others = held.filter((object) => !inBundle.has(object));
  if (chosen.length === 0) return { group: undefined, others };
  const pieces: Buffer[] = [];
  const starts: number[] = [];
  let line = 1;
  for (const object of chosen) {
    starts.push(line);
    line += appendLines(pieces, object, csv ? csv.delimiter : LINES_SEPARATOR, csv?.skipHead ?? 0, new Set(misfits.get(object)?.map((m) => m.line)));
  }
  await writeFile(dest, Buffer.concat(pieces));
  const numbers = chosen.map((object) => object.number);
  // A misfit's line of the bundle is blank, as in its own file; once unbundled, its line is its object's.
  const droppedLines = chosen.map((object) => judgedLines(misfits.get(object) ?? [], csvFieldCount, transform, (m) => m.line, csv ? 'blank-skipped' : 'blank-read'));
  const group: ReadGroup = { files: [dest], numbers, shape: csv ? 'csv' : 'lines', csvFieldCount: csv ? csvFieldCount : 0, maxLineBytes, droppedLines, bundleStarts: starts };
  return { group, others };
}

/**
 * Whether CSV read with these options can be bundled: comment lines are left to DuckDB, and a
 * file number must read as one field whatever the delimiter, quote and escape.
 */
const bundlesCsv = (csv: CsvOptions) => csv.comment === undefined && ![csv.delimiter, csv.quote, csv.escape].some((c) => c.length > 0 && /[0-9\r\n]/.test(c));

function mostCommon(values: readonly number[]): number | undefined {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]?.[0];
}

/**
 * Whether every line of a CSV object after its skipped head is exactly one record, as DuckDB
 * reads it (no quoted field spans lines, no blank line, no carriage return but a line's last
 * byte), so that prefixing each line with a field changes no record; answers the first record's
 * field count (undefined if there is none) and the misfit records, or undefined if a line is not one record.
 */
export function csvLineRecords(data: Buffer, csv: CsvOptions): { fields: number | undefined; misfits: JudgedMisfit[] } | undefined {
  const text = data.toString('utf8');
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let fields: number | undefined;
  const misfits: JudgedMisfit[] = [];
  let cr = text.indexOf('\r');
  for (let line = 0; pos < text.length; line++) {
    const newline = text.indexOf('\n', pos);
    const end = newline < 0 ? text.length : newline;
    const lineEnd = text.charCodeAt(end - 1) === CR && end > pos ? end - 1 : end;
    if (cr >= 0 && cr < lineEnd) return undefined;
    if (cr >= 0 && cr < end) cr = text.indexOf('\r', end);
    if (line >= csv.skipHead) {
      if (lineEnd === pos) return undefined;
      const record = scanRecord(text, pos, csv);
      if (record.open || record.end !== lineEnd) return undefined;
      fields ??= record.fields;
      const why = record.afterQuote ? 'quote' : isMisfit(record.fields, record.content, fields) ? 'fields' : undefined;
      if (why) misfits.push({ line: line + 1, fields: record.fields, raw: text.slice(pos, lineEnd), why });
    }
    if (newline < 0) break;
    pos = newline + 1;
  }
  return { fields, misfits };
}

/** The NDJSON lines DuckDB would refuse for holding the lines read's delimiter (see isMisfit). */
function misfitLines(data: Buffer): JudgedMisfit[] {
  const delimiter = LINE_FIELDS.delimiter.charCodeAt(0);
  const found: JudgedMisfit[] = [];
  let line = 1;
  let lineStart = 0;
  for (let at = data.indexOf(delimiter); at >= 0;) {
    for (let newline = data.indexOf(LF, lineStart); newline >= 0 && newline < at; newline = data.indexOf(LF, lineStart)) {
      line++;
      lineStart = newline + 1;
    }
    const newline = data.indexOf(LF, at);
    const lineEnd = newline < 0 ? data.length : newline;
    const textEnd = data[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
    let fields = 1;
    for (let d = at; d >= 0 && d < lineEnd; d = data.indexOf(delimiter, d + 1)) fields++;
    // Fields after the first count only if they hold something (isMisfit).
    let content = 1;
    for (let b = at + 1; b < textEnd && content === 1; b++) if (data[b] !== delimiter) content = 2;
    if (isMisfit(fields, content, 1)) found.push({ line, fields, raw: data.subarray(lineStart, textEnd).toString('utf8'), why: 'fields' });
    at = newline < 0 ? -1 : data.indexOf(delimiter, lineEnd);
  }
  return found;
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
 * Appends an object's lines after its first `skipLines`, each led by its number and `separator`,
 * and answers how many. As DuckDB reads a file: a BOM at its start is not data, a line ends at
 * "\n" or "\r\n", no line follows a final newline. A lone "\r" (JSON whitespace; DuckDB fails a
 * file on it) reads as a space, as in the even copy of line-endings.ts.
 */
function appendLines(pieces: Buffer[], object: HeldObject, separator: string, skipLines: number, misfits: ReadonlySet<number>): number {
  const data = object.data;
  const prefix = Buffer.from(`${object.number}${separator}`);
  if (prefix.length > BUNDLE_PREFIX_BYTES) throw new Error(`file number ${object.number} is too long for a bundle's prefix`);
  const hasCr = data.includes(CR);
  let start = data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf ? 3 : 0;
  let lines = 0;
  for (let skipped = 0; start < data.length; skipped++) {
    const newline = data.indexOf(LF, start);
    const end = newline < 0 ? data.length : newline;
    if (skipped >= skipLines) {
      let text = data.subarray(start, end);
      if (hasCr) text = withoutCarriageReturns(text);
      // A misfit is a blank line, read as its own file's is (see LeftOut): NDJSON's a blank line of its file.
      if (misfits.has(skipped + 1)) pieces.push(...(separator === LINES_SEPARATOR ? [prefix, NEWLINE] : [NEWLINE]));
      else pieces.push(prefix, text, NEWLINE);
      lines++;
    }
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
 * own files would: its file's index in the group, its line in that file (after the skipped head
 * the bundle left out), the line without its prefix, the column and the field counts without the
 * bundle's first field. Run right after the read.
 */
export async function unbundleRejects(connection: DuckDBConnection, errors: string, group: ReadGroup, transform: Transform): Promise<void> {
  const starts = group.bundleStarts!;
  const csv = group.shape === 'csv' ? transform.csv : undefined;
  const separator = quoteLiteral(csv ? csv.delimiter : LINES_SEPARATOR);
  const counts = `'Expected Number of Columns: (\\d+) Found: (\\d+)'`;
  const count = (n: 1 | 2) => `(regexp_extract(e.error_message, ${counts}, ${n})::BIGINT - 1)`;
  // An empty file starts where the next one does and holds no line: it is left out.
  const firsts = starts.flatMap((first, j) => (first === starts[j + 1] ? [] : [`(${j}, ${first})`]));
  await connection.run(
    `CREATE OR REPLACE TEMP TABLE ${errors} AS
     SELECT e.* REPLACE (
       s.j::UBIGINT AS file_id,
       (e.line - s.first + 1 + ${csv?.skipHead ?? 0})::UBIGINT AS line,
       (e.column_idx - 1)::UBIGINT AS column_idx,
       CASE WHEN e.csv_line IS NULL THEN NULL ELSE substr(e.csv_line, strpos(e.csv_line, ${separator}) + length(${separator})) END AS csv_line,
       CASE WHEN regexp_matches(e.error_message, ${counts})
            THEN regexp_replace(e.error_message, ${counts}, 'Expected Number of Columns: ' || ${count(1)} || ' Found: ' || ${count(2)}) ELSE e.error_message END AS error_message
     )
     FROM ${errors} e ASOF JOIN (SELECT * FROM (VALUES ${firsts.join(', ')}) v(j, first)) s ON e.line >= s.first`,
  );
}
