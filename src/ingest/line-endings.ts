import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { errorMessage, SourceError } from '../errors.js';
import { convertFiles, UNEVEN_LINE_ENDINGS, UnjudgedRecordsError, UnreadableFileError, type ConvertedChunk, type ConvertOptions, type ReadGroup } from './convert.js';
import { outputFile } from './decompress.js';

const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;

/**
 * The file's bytes with every "\r\n" as "\n". In NDJSON, where JSON text holds a "\r" only as
 * whitespace between tokens, a lone "\r" becomes a space; in CSV it stays (it may be a quoted
 * field's data) and the read fails with a clear error instead.
 */
async function* evenBytes(file: string, loneCr: number | undefined): AsyncIterable<Buffer> {
  let pendingCr = false;
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    const out = Buffer.allocUnsafe(chunk.length + 1);
    let n = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (pendingCr) {
        pendingCr = false;
        if (byte !== LF) out[n++] = loneCr ?? CR;
      }
      if (byte === CR) pendingCr = true;
      else out[n++] = byte;
    }
    yield out.subarray(0, n);
  }
  // A file's last line may end in a "\r" alone: that is its line ending.
  if (pendingCr) yield Buffer.from([LF]);
}

/** Whether the file has a "\r" at all: only those can end their lines unevenly. */
async function hasCarriageReturn(file: string): Promise<boolean> {
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) if (chunk.includes(CR)) return true;
  return false;
}

/**
 * The groups with each line-based file that has a "\r" replaced by a copy at `copyOf(number)`
 * whose lines all end in "\n"; lines keep their numbers. Undefined when no file has one.
 */
async function evenGroups(groups: readonly ReadGroup[], copyOf: (fileNumber: number) => string): Promise<{ groups: ReadGroup[]; numbers: number[] } | undefined> {
  const numbers: number[] = [];
  const even: ReadGroup[] = [];
  for (const group of groups) {
    // A bundle's lines already end in "\n" alone (bundle.ts).
    if ((group.shape !== 'csv' && group.shape !== 'lines') || group.bundleStarts) {
      even.push(group);
      continue;
    }
    const files: string[] = [];
    for (const [j, file] of group.files.entries()) {
      if (!(await hasCarriageReturn(file))) {
        files.push(file);
        continue;
      }
      const dest = copyOf(group.numbers[j]!);
      await pipeline(evenBytes(file, group.shape === 'lines' ? SPACE : undefined), outputFile(dest));
      files.push(dest);
      numbers.push(group.numbers[j]!);
    }
    even.push({ ...group, files });
  }
  return numbers.length > 0 ? { groups: even, numbers } : undefined;
}

/**
 * convertFiles, read again once with even line endings where DuckDB refused a file for mixing
 * them: the records stay on their lines, so accounts and line numbers are those of the original.
 * The copies go to `copyOf(number)`, never beside a source file; the caller removes them with the
 * chunk's other scratch files.
 */
export async function convertWithEvenLineEndings(options: ConvertOptions, copyOf: (fileNumber: number) => string): Promise<{ chunk: ConvertedChunk; groups: readonly ReadGroup[] }> {
  try {
    return { chunk: await convertFiles(options), groups: options.groups };
  } catch (err) {
    if (!UNEVEN_LINE_ENDINGS.test(errorMessage(err))) throw err;
    const even = await evenGroups(options.groups, copyOf);
    // No file has a "\r": the reader failed for another reason, told as it is.
    if (!even) throw err;
    const { groups, numbers } = even;
    const message =
      'mixes line endings in a way the reader cannot read: a carriage return ("\\r") that is not followed by a newline, inside a CSV record; ' +
      'end every line with "\\n" or "\\r\\n" (a "\\r" inside a quoted field must be part of a "\\r\\n")';
    // One file with a "\r" is the one at fault: named, as other unreadable files are.
    const cause = numbers.length === 1 ? new UnreadableFileError(numbers[0]!, message) : new SourceError(`one of ${numbers.length} files with a "\\r" ${message}`, { cause: err });
    try {
      return { chunk: await convertFiles({ ...options, groups }), groups };
    } catch (again) {
      if (!UNEVEN_LINE_ENDINGS.test(errorMessage(again))) throw again;
      // Records judged first may leave the lines that end unevenly out (convert-chunk.ts).
      throw options.groups.some((g) => g.unjudged) ? new UnjudgedRecordsError('a file read strictly ends its lines unevenly', { cause }) : cause;
    }
  }
}
