import type { Transform } from '../transform/model.js';
import type { ReadGroup } from './convert.js';
import { rm } from 'node:fs/promises';
import { blankHead, lookAtCsv } from './csv-fields.js';
import { detectJsonShape } from './json-shape.js';
import { DEFAULT_MAX_LINE_BYTES, dropLongLines, originalLine, type DroppedLine } from './long-lines.js';
import { judgedLines, leaveOutMisfits, leftOutHow, LINE_FIELDS, mayReadStrictly, MisfitBudget, UnclosedQuoteError } from './misfit-records.js';
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
 * Whether readGroups judges every file's records (misfit-records.ts) before DuckDB reads them, or
 * only those of files DuckDB may not read strictly (mayReadStrictly), the others left to a strict
 * read (ReadGroup.unjudged).
 */
export interface Judging {
  readonly judge: boolean;
}

/** A line-based file as DuckDB is to read it: its long lines taken out, its head blanked where needed (CsvLook.headToBlank). */
interface LookedAt {
  readonly shape: 'csv' | 'lines';
  /** Fields per record (1 for NDJSON lines). */
  readonly fields: number;
  readonly path: string;
  /** Lines judged so far, sorted by line. */
  readonly droppedLines: DroppedLine[];
}

/**
 * Splits a task's local files into groups one DuckDB scan can read: CSV by field count, JSON by
 * shape. Line-based files lose their over-long lines here, and, when judged, their misfit records
 * (misfit-records.ts), each reported with its line number. Unjudged, they are read strictly
 * (ReadGroup.unjudged): most files hold no misfit, and the scan reads every byte in JavaScript.
 * A file left undefined is read another way (a bundle's): its number is in no group.
 */
export async function readGroups(
  transform: Transform,
  local: readonly (string | undefined)[],
  limit: LineLimit = { maxLineBytes: DEFAULT_MAX_LINE_BYTES, copyOf: (i) => `${local[i]}.lines` },
  judging: Judging = { judge: true },
): Promise<ReadGroup[]> {
  const groups = new Map<string, ReadGroup & { files: string[]; numbers: number[]; droppedLines: DroppedLine[][] }>();
  const add = (key: string, shape: ReadGroup['shape'], csvFieldCount: number, file: string, i: number, droppedLines: DroppedLine[], unjudged: boolean) => {
    const group = groups.get(key) ?? { files: [], numbers: [], droppedLines: [], shape, csvFieldCount, maxLineBytes: limit.maxLineBytes, ...(unjudged ? { unjudged } : {}) };
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
    let recordFields: number | undefined = 1;
    if (shape === 'csv') {
      const look = await lookAtCsv(path, transform.csv);
      if (look.headToBlank) path = await replaced(file, path, await blankHead(path, `${limit.copyOf(i)}.head`, look.headToBlank));
      recordFields = look.fields;
    }
    // An empty CSV file has no records; reading it with the mapped width is harmless.
    const looked: LookedAt = { shape, fields: recordFields ?? mapped, path, droppedLines: kept.longLines };
    if (!judging.judge && (await mayReadStrictly(path, shape === 'csv' ? transform.csv : LINE_FIELDS, recordFields))) return { ...looked, unjudged: true };
    return { ...(await judgeFile(transform, file, looked, i, limit, misfitBudget)), unjudged: false };
  });
  for (const i of local.keys()) {
    const look = looks[i]!;
    if (look.status === 'rejected') throw look.reason;
    if (look.value === undefined) continue;
    const { shape, fields, path, droppedLines } = look.value;
    const unjudged = 'unjudged' in look.value && look.value.unjudged;
    add(`${shape === 'csv' ? `csv-${fields}` : shape}${unjudged ? '-unjudged' : ''}`, shape, shape === 'csv' ? fields : 0, path, i, droppedLines, unjudged);
  }
  return [...groups.values()];
}

/**
 * The groups with the records of their unjudged files judged (see readGroups), as readGroups
 * with judging would have made them: what a chunk is converted again with when DuckDB refused a
 * record of a strict read (UnjudgedRecordsError).
 */
export async function judgeGroups(transform: Transform, groups: readonly ReadGroup[], limit: LineLimit): Promise<ReadGroup[]> {
  const misfitBudget = new MisfitBudget();
  const judged: ReadGroup[] = [];
  for (const group of groups) {
    if (!group.unjudged || (group.shape !== 'csv' && group.shape !== 'lines')) {
      judged.push(group);
      continue;
    }
    const shape = group.shape;
    const fields = shape === 'csv' ? group.csvFieldCount : 1;
    const files = await mapLimit(group.files, LOOKS_AT_ONCE, (path, j) => judgeFile(transform, undefined, { shape, fields, path, droppedLines: [...group.droppedLines[j]!] }, group.numbers[j]!, limit, misfitBudget));
    const looked = files.map((f) => {
      if (f.status === 'rejected') throw f.reason;
      return f.value;
    });
    const { unjudged: _, ...rest } = group;
    judged.push({ ...rest, files: looked.map((f) => f.path), droppedLines: looked.map((f) => f.droppedLines) });
  }
  return judged;
}

/**
 * The file's misfit records left out (a copy without them, when it has any), with the lines judged
 * so far. `source` is the file the look began from, kept when a copy replaces the path.
 */
async function judgeFile(transform: Transform, source: string | undefined, looked: LookedAt, i: number, limit: LineLimit, budget: MisfitBudget): Promise<LookedAt> {
  const { shape, fields, droppedLines } = looked;
  const how = leftOutHow(shape, fields);
  const fit = await leaveOutMisfits(looked.path, `${limit.copyOf(i)}.fields`, shape === 'csv' ? transform.csv : LINE_FIELDS, fields, shape === 'csv' ? transform.csv.skipHead : 0, how, budget).catch((err: unknown) => {
    if (err instanceof UnclosedQuoteError) throw new UnreadableFileError(i, unclosedQuoteMessage(originalLine(err.line, droppedLines)));
    throw err instanceof SourceError ? new UnreadableFileError(i, err.message) : err;
  });
  const path = source === undefined ? fit.path : await replaced(source, looked.path, fit.path);
  // The misfits' lines are lines of the copy without the long lines: numbered in the original file, as those are.
  const misfits = judgedLines(fit.misfits, fields, transform, (m) => originalLine(m.line, droppedLines), how);
  return { shape, fields, path, droppedLines: [...droppedLines, ...misfits].sort((a, b) => a.line - b.line) };
}

/** `next`, once the copy at `path` it supersedes is removed (never the `source` file itself). */
async function replaced(source: string, path: string, next: string): Promise<string> {
  if (path !== source && path !== next) await rm(path, { force: true });
  return next;
}
