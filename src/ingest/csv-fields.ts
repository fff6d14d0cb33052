import { open } from 'node:fs/promises';
import type { CsvOptions } from '../transform/model.js';

/**
 * Counts the fields of the first data record, so files with more fields than the transform maps
 * still load, while records whose field count differs from the file's are rejected by DuckDB.
 */
export async function countCsvFields(file: string, csv: CsvOptions): Promise<number | undefined> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(256 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const lines = buffer.subarray(0, bytesRead).toString('utf8').replace(/^\uFEFF/, '').split(/\r?\n/);
    let skipped = 0;
    for (const line of lines) {
      if (skipped < csv.skipHead) {
        skipped++;
        continue;
      }
      if (line === '' || (csv.comment !== undefined && line.startsWith(csv.comment))) continue;
      return countFields(line, csv);
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

function countFields(line: string, csv: CsvOptions): number {
  let fields = 1;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === csv.escape && csv.escape !== csv.quote && line[i + 1] === csv.quote) i++;
      else if (ch === csv.quote) {
        if (csv.escape === csv.quote && line[i + 1] === csv.quote) i++;
        else quoted = false;
      }
    } else if (ch === csv.quote) quoted = true;
    else if (ch === csv.delimiter) fields++;
  }
  return fields;
}
