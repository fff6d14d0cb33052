import { ValidationError } from './errors.js';

/**
 * Refuses keys a document does not define, naming the nearest known one: a misspelt setting
 * that is ignored silently runs with its default, which is worse than a 400.
 */
export function rejectUnknownKeys(obj: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const near = nearest(key, known);
    const shown = key.length > 100 ? `${key.slice(0, 100)}...` : key;
    const at = where === '' ? shown : `${where}.${shown}`;
    throw new ValidationError(near === undefined ? `${at} is not a known setting: use one of ${known.join(', ')}` : `${at} is not a known setting: did you mean "${near}"? (known: ${known.join(', ')})`);
  }
}

/** The known key closest in spelling, if it is close enough to be what was meant. */
function nearest(key: string, known: readonly string[]): string | undefined {
  // Keys come from request bodies: a long one is nobody's typo, and would cost a long comparison.
  if (key.length > 100) return undefined;
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { key: candidate, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(best.key.length / 3)) ? best.key : undefined;
}

/** Levenshtein distance, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    previous = current;
  }
  return previous[b.length]!;
}
