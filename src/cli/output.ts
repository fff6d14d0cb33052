import Table from 'cli-table3';

/** Where commands write: one place, so tests and pipes see exactly the lines a person does. */
export const out = (text: string): void => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
export const err = (text: string): void => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);

/**
 * Server text shown to a person (object names, error messages) with control characters made
 * visible: an S3 key or a file name must not be able to move the cursor or rewrite the terminal.
 */
export const printable = (text: string): string =>
  // eslint-disable-next-line no-control-regex
  text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

export const printJson = (value: unknown): void => out(JSON.stringify(value, null, 2));

const cell = (value: unknown): string => printable(value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value));

/** A plain table (no colours, so it reads the same in a pipe). */
export function printTable(head: readonly string[], rows: readonly (readonly unknown[])[]): void {
  const table = new Table({ head: [...head], style: { head: [], border: [] } });
  for (const row of rows) table.push(row.map(cell));
  out(table.toString());
}

/** One resource as field/value lines. */
export function printRecord(record: Record<string, unknown>): void {
  printTable(
    ['field', 'value'],
    Object.entries(record).map(([key, value]) => [key, value]),
  );
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? Math.round(value) : value.toFixed(1)} ${UNITS[unit]}`;
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
