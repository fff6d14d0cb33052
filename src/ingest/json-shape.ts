import { open } from 'node:fs/promises';
import type { ReadShape } from '../transform/compile.js';
import { firstBytes, MAX_LOOK } from './first-bytes.js';

/**
 * How a JSON file holds its records, from its first bytes: a file starting with "[" is one
 * array; a first line that is a whole JSON document means NDJSON (read line by line, so a bad
 * line rejects only itself); anything else (pretty-printed or back-to-back documents) is read
 * as concatenated documents.
 */
export async function detectJsonShape(file: string): Promise<ReadShape> {
  const handle = await open(file, 'r');
  try {
    return jsonShapeOf(await firstBytes(handle, holdsFirstLine));
  } finally {
    await handle.close();
  }
}

/** detectJsonShape of a file's first bytes (all of them, or as many as firstBytes reads). */
export function jsonShapeOf(first: Buffer): ReadShape {
  const text = first.toString('utf8').replace(/^\uFEFF/, '');
  const start = text.trimStart();
  if (start.startsWith('[')) return 'array';
  const firstLine = start.split('\n', 1)[0]!.trim();
  if (firstLine === '' || !firstLine.startsWith('{')) return 'lines';
  if (isObject(firstLine)) return 'lines';
  // A first line cut by the buffer is a long NDJSON line, not a pretty-printed document; a whole
  // file of one line is documents when it holds objects back to back, even with a broken one
  // (read as one line, it would count a file of records as one rejected row).
  if (!text.includes('\n', text.indexOf(firstLine))) return first.length < MAX_LOOK && BACK_TO_BACK.test(firstLine) ? 'objects' : 'lines';
  // A broken first record must not make NDJSON read as documents, which fail whole on it: a
  // document's next lines are its members, never a whole object.
  const next = start
    .split('\n')
    .slice(1, -1)
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .slice(0, NEXT_LINES_LOOKED_AT);
  return next.some(isObject) ? 'lines' : 'objects';
}

/** Complete lines after a first one that is not JSON that are looked at for whole objects. */
const NEXT_LINES_LOOKED_AT = 3;

function isObject(line: string): boolean {
  if (!line.startsWith('{')) return false;
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}

/** Where one JSON object ends and the next begins, spaces between. */
const BACK_TO_BACK = /}\s*{/;

/** Whether the bytes hold the first non-blank line whole (a UTF-8 BOM is not part of it). */
function holdsFirstLine(seen: Buffer): boolean {
  const bom = seen[0] === 0xef && seen[1] === 0xbb && seen[2] === 0xbf ? 3 : 0;
  const start = seen.findIndex((b, i) => i >= bom && b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d);
  return start >= 0 && seen.indexOf(0x0a, start) >= 0;
}
