import type { Transform } from '../transform/model.js';
import type { ReadGroup } from './convert.js';
import { countCsvFields } from './csv-fields.js';
import { detectJsonShape } from './json-shape.js';

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
  for (const [i, file] of local.entries()) {
    if (transform.type === 'json') {
      const shape = await detectJsonShape(file);
      add(shape, shape, 0, file, i);
    } else {
      // An empty file has no records; reading it with the mapped width is harmless.
      const count = (await countCsvFields(file, transform.csv)) ?? mapped;
      add(`csv-${count}`, 'csv', count, file, i);
    }
  }
  return [...groups.values()];
}
