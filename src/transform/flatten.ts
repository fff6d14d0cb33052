import type { Flattening } from './model.js';

/** RFC 6901: "~" and "/" inside a key are written "~0" and "~1". */
export const pointerOf = (keys: readonly string[]) => keys.map((k) => '/' + k.replaceAll('~', '~0').replaceAll('/', '~1')).join('');

/**
 * The JSON pointers a flattened column name stands for. Rather than flattening every record
 * (a pass over all keys), the name is read back into the path it came from: with "." and "[]",
 * `employees.departments[0]` is /employees/departments/0. Only `depth` separators are read, so
 * deeper names stay one key, as flattening stops at that depth. A key that itself contains the
 * separator (`"user.agent"`) is tried as written when the nested path finds nothing.
 */
export function flattenedPointers(name: string, f: Flattening): string[] {
  const keys: string[] = [];
  let current = '';
  let levels = 0;
  let i = 0;
  while (i < name.length) {
    if (levels < f.depth && current !== '') {
      const stops = [f.map.left, f.slice.left];
      const nested = separated(name, i, f.map, stops) ?? separated(name, i, f.slice, stops, /^\d+$/);
      if (nested) {
        keys.push(current);
        current = nested.key;
        i = nested.end;
        levels++;
        continue;
      }
    }
    current += name[i++];
  }
  keys.push(current);
  const nested = pointerOf(keys);
  const literal = pointerOf([name]);
  return nested === literal ? [literal] : [nested, literal];
}

function separated(name: string, at: number, sep: { left: string; right: string }, stops: readonly string[], shape?: RegExp): { key: string; end: number } | undefined {
  if (!name.startsWith(sep.left, at)) return undefined;
  const start = at + sep.left.length;
  // Without a right separator the key runs to the next left separator of either kind.
  const end = sep.right === '' ? nextStop(name, start, stops) : name.indexOf(sep.right, start);
  if (end < 0 || end === start) return undefined;
  const key = name.slice(start, end);
  if (shape && !shape.test(key)) return undefined;
  return { key, end: end + sep.right.length };
}

function nextStop(name: string, from: number, stops: readonly string[]): number {
  const found = stops.map((s) => name.indexOf(s, from)).filter((n) => n >= 0);
  return found.length === 0 ? name.length : Math.min(...found);
}
