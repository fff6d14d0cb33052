import type { Transform } from '../transform/model.js';
import type { ReadGroup } from './convert.js';
import { rm } from 'node:fs/promises';
import { blankHead, lookAtCsv } from './csv-fields.js';
import { detectJsonShape } from './json-shape.js';
import { DEFAULT_MAX_LINE_BYTES, dropLongLines, originalLine, type DroppedLine } from './long-lines.js';
import { judgedLines, leaveOutMisfits, leftOutHow, LINE_FIELDS, MisfitBudget, UnclosedQuoteError } from './misfit-records.js';
import { unclosedQuoteMessage, UnreadableFileError } from './convert.js';
import { SourceError } from '../errors.js';
import { mapLimit } from '../map-limit.js';

const LOOKS_AT_ONCE = 16;

export interface LineLimit {
  /** The longest line read (INLET_MAX_LINE_BYTES); longer ones are rejected before DuckDB reads the file. */
  readonly maxLineBytes: number;
  /** Where the copy of the i-th file without its long lines goes, if it has any: never beside a source file. */
  readonly copyOf: (i: number) => string;
}

/** The fields a CSV record needs for every column the transform maps: the width a file without records is read at. */
export const mappedCsvFields = (transform: Transform) => Math.max(...transform.columns.map((c) => (c.source.kind === 'index' ? c.source.index + 1 : 0)));

/**
 * Splits a task's local files into groups one DuckDB scan can read: CSV by field count, JSON by
 * shape. Line-based files lose their over-long lines and their misfit records (misfit-records.ts)
 * here, each reported with its line number.
 * A file left undefined is read another way (a bundle's): its number is in no group.
 */
export async function readGroups(transform: Transform, local: readonly (string | undefined)[], limit: LineLimit = { maxLineBytes: DEFAULT_MAX_LINE_BYTES, copyOf: (i) => `${local[i]}.lines` }): Promise<ReadGroup[]> {
  const groups = new Map<string, ReadGroup & { files: string[]; numbers: number[]; droppedLines: DroppedLine[][] }>();
  const add = (key: string, shape: ReadGroup['shape'], csvFieldCount: number, file: string, i: number, droppedLines: DroppedLine[]) => {
    const group = groups.get(key) ?? { files: [], numbers: [], droppedLines: [], shape, csvFieldCount, maxLineBytes: limit.maxLineBytes };
    group.files.push(file);
    group.numbers.push(i);
    group.droppedLines.push(droppedLines);
    groups.set(key, group);
  };
  const mapped = mappedCsvFields(transform);
  const misfitBudget = new MisfitBudget();
  // Each look reads a file's first bytes: many small files are looked at several at once.
  const looks = await mapLimit(local, LOOKS_AT_ONCE, async (file, i) => {
    if (file === undefined) return undefined;
    const shape = transform.type === 'json' ? await detectJsonShape(file) : 'csv';
    // A JSON array or a stream of documents is not read by line.
    if (shape !== 'csv' && shape !== 'lines') return { shape, fields: 0, path: file, droppedLines: [] };
    const kept = await dropLongLines(file, limit.copyOf(i), limit.maxLineBytes, shape === 'csv' ? transform.csv.skipHead : 0);
    let path = kept.path;
    const replace = async (next: string) => {
      if (path !== file && path !== next) await rm(path, { force: true });
      path = next;
    };
    let fields = 1;
    if (shape === 'csv') {
      const look = await lookAtCsv(path, transform.csv);
      if (look.quotedHead) await replace(await blankHead(path, `${limit.copyOf(i)}.head`, look.quotedHead, transform.csv.skipHead));
      // An empty CSV file has no records; reading it with the mapped width is harmless.
      fields = look.fields ?? mapped;
    }
    const how = leftOutHow(shape, fields);
    const fit = await leaveOutMisfits(path, `${limit.copyOf(i)}.fields`, shape === 'csv' ? transform.csv : LINE_FIELDS, fields, shape === 'csv' ? transform.csv.skipHead : 0, how, misfitBudget).catch((err: unknown) => {
      if (err instanceof UnclosedQuoteError) throw new UnreadableFileError(i, unclosedQuoteMessage(originalLine(err.line, kept.longLines)));
      throw err instanceof SourceError ? new UnreadableFileError(i, err.message) : err;
    });
    await replace(fit.path);
    // The misfits' lines are lines of the copy without the long lines: numbered in the original file, as those are.
    const misfits = judgedLines(fit.misfits, fields, transform, (m) => originalLine(m.line, kept.longLines), how);
    const droppedLines = [...kept.longLines, ...misfits].sort((a, b) => a.line - b.line);
    return { shape, fields: shape === 'csv' ? fields : 0, path, droppedLines };
  });
  for (const i of local.keys()) {
    const look = looks[i]!;
    if (look.status === 'rejected') throw look.reason;
    if (look.value === undefined) continue;
    const { shape, fields, path, droppedLines } = look.value;
    add(shape === 'csv' ? `csv-${fields}` : shape, shape, fields, path, i, droppedLines);
  }
  return [...groups.values()];
}
