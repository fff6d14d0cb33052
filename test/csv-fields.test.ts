import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { openDuckDB } from '../src/duckdb/instances.js';
import { queryRows, withConnection } from '../src/duckdb/engine.js';
import { convertFiles } from '../src/ingest/convert.js';
import { countCsvFields } from '../src/ingest/csv-fields.js';
import { readGroups } from '../src/ingest/read-groups.js';
import { validateTransform } from '../src/transform/validate.js';
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

/** A quoted field holding the value, spelled for the quote/escape pair as DuckDB reads it. */
function quoted(value: string, quote: string, escape: string): string {
  const body = escape === quote ? value.replaceAll(quote, quote + quote) : value.replaceAll(escape, escape + escape).replaceAll(quote, escape + quote);
  return quote + body + quote;
}

describe('escapes in quoted fields read as DuckDB reads them', () => {
  const pairs: [string, string][] = [
    ['"', '"'],
    ['"', '\\'],
    ["'", '\\'],
    ["'", "'"],
  ];

  test('an escaped escape before the closing quote ends the field', async () => {
    assert.equal(await fieldsOf('a "q\\\\" b\n', { delimiter: ' ', escape: '\\' }), 3);
    assert.equal(await fieldsOf("a 'x\\\\\\'' b\n", { delimiter: ' ', quote: "'", escape: '\\' }), 3);
  });

  for (const [quote, escape] of pairs) {
    for (const eol of ['\n', '\r\n']) {
      for (const bom of ['', '\uFEFF']) {
        test(`quote ${quote} escape ${escape}${eol === '\r\n' ? ', CRLF' : ''}${bom ? ', a BOM' : ''}: every record loads with its value`, async () => {
          // Quotes and escapes inside, an escape just before the closing quote, and the nginx referer of the report.
          const values = [`a ${quote}b${quote} c${escape}`, 'plain', 'plain too', `https://e.example/${quote}q${quote}`, `${escape}${quote}`];
          const lines = values.map((v, i) => `2024-01-01T00:00:0${i} ${quoted(v, quote, escape)} tail${i}`);
          const file = path.join(dir, `escapes-${n++}.log`);
          writeFileSync(file, bom + lines.join(eol) + eol);
          const { transform } = validateTransform('csv', {
            format_details: { delimiter: ' ', quote, escape },
            output_columns: [
              { name: 't', datatype: { type: 'datetime', primary: true, format: '2006-01-02T15:04:05', source: { from_input_index: 0 } } },
              { name: 'v', datatype: { type: 'string', source: { from_input_index: 1 } } },
              { name: 'w', datatype: { type: 'string', source: { from_input_index: 2 } } },
            ],
          });
          const engine = await openDuckDB({ kind: 'worker-slot', threads: 1, memoryLimit: '256MB', tempDirectory: path.join(dir, 'spill'), allowedDirectories: [dir] });
          try {
            await withConnection(engine, undefined, async (c) => {
              const chunk = await convertFiles({ connection: c, transform, groups: await readGroups(transform, [file]), fileCount: 1, nowMs: 0 });
              const [account] = chunk.accounts;
              assert.deepEqual(account, { rowsRead: values.length, rowsWritten: values.length, rowsRejected: 0, rejects: [] });
              const rows = await queryRows<{ v: string; w: string }>(c, `SELECT v, w FROM ${chunk.converted} ORDER BY rowid`);
              assert.deepEqual(
                rows,
                values.map((v, i) => ({ v, w: `tail${i}` })),
              );
            });
          } finally {
            engine.closeSync();
          }
        });
      }
    }
  }
});
