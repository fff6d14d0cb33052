import { open } from 'node:fs/promises';
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
    const buffer = Buffer.alloc(256 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, bytesRead).toString('utf8').replace(/^\uFEFF/, '');
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
