import { open, type FileHandle } from 'node:fs/promises';
import type { ReadShape } from '../transform/compile.js';

/**
 * How a JSON file holds its records, from its first bytes: a file starting with "[" is one
 * array; a first line that is a whole JSON document means NDJSON (read line by line, so a bad
 * line rejects only itself); anything else (pretty-printed or back-to-back documents) is read
 * as concatenated documents.
 */
export async function detectJsonShape(file: string): Promise<ReadShape> {
  const handle = await open(file, 'r');
  try {
    const text = (await firstLineBytes(handle)).toString('utf8').replace(/^\uFEFF/, '');
    const start = text.trimStart();
    if (start.startsWith('[')) return 'array';
    const firstLine = start.split('\n', 1)[0]!.trim();
    if (firstLine === '' || !firstLine.startsWith('{')) return 'lines';
    // A first line cut by the buffer is a long NDJSON line, not a pretty-printed document.
    if (!text.includes('\n', text.indexOf(firstLine))) return 'lines';
    try {
      JSON.parse(firstLine);
      return 'lines';
    } catch {
      return 'objects';
    }
  } finally {
    await handle.close();
  }
}

/** How much of a file is read to see its first line; a first line cut here is taken as NDJSON. */
const MAX_LOOK = 256 * 1024;
const FIRST_LOOK = 16 * 1024;

/**
 * The file's first bytes, enough to hold its first non-blank line when that fits in MAX_LOOK.
 * Most files show it in the first FIRST_LOOK bytes: a task looks at up to a thousand files, and
 * a 256 KB buffer for each was most of the time spent looking.
 */
async function firstLineBytes(handle: FileHandle): Promise<Buffer> {
  let buffer = Buffer.allocUnsafe(FIRST_LOOK);
  let length = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
    length += bytesRead;
    const seen = buffer.subarray(0, length);
    const bom = seen[0] === 0xef && seen[1] === 0xbb && seen[2] === 0xbf ? 3 : 0;
    const start = seen.findIndex((b, i) => i >= bom && b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d);
    const complete = start >= 0 && seen.indexOf(0x0a, start) >= 0;
    if (bytesRead === 0 || length < buffer.length || complete || buffer.length >= MAX_LOOK) return seen;
    const grown = Buffer.allocUnsafe(Math.min(buffer.length * 4, MAX_LOOK));
    buffer.copy(grown, 0, 0, length);
    buffer = grown;
  }
}
