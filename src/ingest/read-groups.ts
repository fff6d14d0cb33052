import type { Transform } from '../transform/model.js';
import type { ReadGroup } from './convert.js';
import { countCsvFields } from './csv-fields.js';
import { detectJsonShape } from './json-shape.js';
import { mapLimit } from '../map-limit.js';

const LOOKS_AT_ONCE = 16;

/** Splits a task's local files into groups one DuckDB scan can read: CSV by field count, JSON by shape. */
export async function readGroups(transform: Transform, local: readonly string[]): Promise<ReadGroup[]> {
  const groups = new Map<string, ReadGroup & { files: string[]; numbers: number[] }>();
  const add = (key: string, shape: ReadGroup['shape'], csvFieldCount: number, file: string, i: number) => {
    const group = groups.get(key) ?? { files: [], numbers: [], shape, csvFieldCount };
    group.files.push(file);
    group.numbers.push(i);
    groups.set(key, group);
  };
  const mapped = Math.max(...transform.columns.map((c) => (c.source.kind === 'index' ? c.source.index + 1 : 0)));
  // Each look reads a file's first bytes: many small files are looked at several at once.
  const looks = await mapLimit(local, LOOKS_AT_ONCE, async (file) =>
    // An empty CSV file has no records; reading it with the mapped width is harmless.
    transform.type === 'json' ? await detectJsonShape(file) : ((await countCsvFields(file, transform.csv)) ?? mapped),
  );
  for (const [i, file] of local.entries()) {
    const look = looks[i]!;
    if (look.status === 'rejected') throw look.reason;
    if (typeof look.value === 'number') add(`csv-${look.value}`, 'csv', look.value, file, i);
    else add(look.value, look.value, 0, file, i);
  }
  return [...groups.values()];
}
