import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { countCsvFields } from '../src/ingest/csv-fields.js';
import type { CsvOptions } from '../src/transform/model.js';

const dir = mkdtempSync(path.join(tmpdir(), 'inlet-csv-fields-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const CSV: CsvOptions = { delimiter: ',', quote: '"', escape: '"', skipHead: 0, comment: undefined };
let n = 0;
const fieldsOf = (content: string, options: Partial<CsvOptions> = {}) => {
  const file = path.join(dir, `${n++}.csv`);
  writeFileSync(file, content);
  return countCsvFields(file, { ...CSV, ...options });
};

describe('the field count of a CSV file', () => {
  test('is the first record’s, after the skipped head, blank lines and comments', async () => {
    assert.equal(await fieldsOf('a,b,c\n1,2\n'), 3);
    assert.equal(await fieldsOf('\uFEFFh1,h2\r\n\r\n1,2,3,4\r\n', { skipHead: 1 }), 4);
    assert.equal(await fieldsOf('# made by hand\n\n1;2\n', { delimiter: ';', comment: '#' }), 2);
    assert.equal(await fieldsOf('x\n', { skipHead: 1 }), undefined);
    assert.equal(await fieldsOf(''), undefined);
  });

  test('a quoted field may hold delimiters, quotes and line breaks', async () => {
    assert.equal(await fieldsOf('1,"a, ""b""\nc",3\n4,5,6\n'), 3);
    assert.equal(await fieldsOf("1,'x\\'y,z',3\n", { quote: "'", escape: '\\' }), 3);
  });

  test('a record past the first look (16 KB) is counted whole', async () => {
    const header = `${'h'.repeat(40_000)}\n`;
    assert.equal(await fieldsOf(`${header}1,2,3,4,5\n`, { skipHead: 1 }), 5);
    // A first record longer than the first look: its fields after 16 KB count too.
    assert.equal(await fieldsOf(`${'v'.repeat(20_000)},2,3\n`), 3);
    assert.equal(await fieldsOf(`"${'v\n'.repeat(10_000)}",2,3\n`), 3);
  });
});
