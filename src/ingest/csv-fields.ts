import { open } from 'node:fs/promises';
import type { CsvOptions } from '../transform/model.js';
import { firstBytes } from './first-bytes.js';

/**
 * Counts the fields of the first data record, so files with more fields than the transform maps
 * still load, while records whose field count differs from the file's are rejected by DuckDB.
 */
export async function countCsvFields(file: string, csv: CsvOptions): Promise<number | undefined> {
  const handle = await open(file, 'r');
  try {
    const seen = await firstBytes(handle, (bytes) => firstRecord(bytes.toString('utf8'), csv)?.complete ?? false);
    return firstRecord(seen.toString('utf8'), csv)?.fields;
  } finally {
    await handle.close();
  }
}

/**
 * The first record after the skipped head, blank lines and comments: its field count, and whether
 * the text holds it whole (a quoted field may span lines). Undefined when the text holds none.
 */
function firstRecord(text: string, csv: CsvOptions): { fields: number; complete: boolean } | undefined {
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let skipped = 0;
  while (pos < text.length) {
    const newline = text.indexOf('\n', pos);
    const end = newline < 0 ? text.length : newline;
    const line = text.slice(pos, end).replace(/\r$/, '');
    const skip = skipped < csv.skipHead || line === '' || (csv.comment !== undefined && line.startsWith(csv.comment));
    if (!skip) return countFields(text, pos, csv);
    if (skipped < csv.skipHead) skipped++;
    if (newline < 0) return undefined;
    pos = newline + 1;
  }
  return undefined;
}

function countFields(text: string, start: number, csv: CsvOptions): { fields: number; complete: boolean } {
  let fields = 1;
  let quoted = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      // DuckDB lets an escape escape itself too: in `"a\\"` the last quote closes the field.
      if (ch === csv.escape && csv.escape !== csv.quote && (text[i + 1] === csv.quote || text[i + 1] === csv.escape)) i++;
      else if (ch === csv.quote) {
        if (csv.escape === csv.quote && text[i + 1] === csv.quote) i++;
        else quoted = false;
      }
    } else if (ch === csv.quote) quoted = true;
    else if (ch === csv.delimiter) fields++;
    else if (ch === '\n') return { fields, complete: true };
  }
  return { fields, complete: false };
}
