import { UnjudgedRecordsError, type ConvertedChunk, type ConvertOptions, type ReadGroup } from './convert.js';
import { convertWithEvenLineEndings } from './line-endings.js';
import { judgeGroups, type LineLimit } from './read-groups.js';

/** Where a chunk's copies of its files go: never beside a source file; the caller removes them with its other scratch files. */
export interface ChunkCopies {
  /** The copies made while judging records, as readGroups makes them. */
  readonly lines: LineLimit;
  /** The copy with even line endings of the file numbered `fileNumber` (see convertWithEvenLineEndings). */
  readonly evenOf: (fileNumber: number) => string;
}

/**
 * Converts a chunk's groups (convertFiles). Unjudged groups (readGroups without judging) are read
 * strictly; where DuckDB refuses one of their records, their records are judged and the chunk is
 * converted again, so most chunks, which hold no misfit record, are not scanned for them. Returns
 * the groups as last read, whose copies the caller removes.
 */
export async function convertChunk(options: ConvertOptions, copies: ChunkCopies): Promise<{ chunk: ConvertedChunk; groups: readonly ReadGroup[] }> {
  try {
    return await convertWithEvenLineEndings(options, copies.evenOf);
  } catch (err) {
    if (!(err instanceof UnjudgedRecordsError)) throw err;
    const groups = await judgeGroups(options.transform, options.groups, copies.lines);
    return await convertWithEvenLineEndings({ ...options, groups }, copies.evenOf);
  }
}
