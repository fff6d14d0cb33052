import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { openDuckDB } from '../src/duckdb/instances.js';
import { queryRows, withConnection } from '../src/duckdb/engine.js';
import { convertFiles, UnreadableFileError } from '../src/ingest/convert.js';
import { lookAtCsv } from '../src/ingest/csv-fields.js';
import { convertWithEvenLineEndings } from '../src/ingest/line-endings.js';
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
  return lookAtCsv(file, { ...CSV, ...options }).then((look) => look.fields);
};
const headOf = (content: string, options: Partial<CsvOptions> = {}) => {
  const file = path.join(dir, `${n++}.csv`);
  writeFileSync(file, content);
  return lookAtCsv(file, { ...CSV, ...options }).then((look) => look.headToBlank);
};

describe('the field count of a CSV file', () => {
  test('is the first record’s, after the skipped head, blank lines and comments', async () => {
    assert.equal(await fieldsOf('a,b,c\n1,2\n'), 3);
    assert.equal(await fieldsOf('\uFEFFh1,h2\r\n\r\n1,2,3,4\r\n', { skipHead: 1 }), 4);
    assert.equal(await fieldsOf('# made by hand\n\n1;2\n', { delimiter: ';', comment: '#' }), 2);
    // A line is read only up to a comment, and one that starts with it after spaces is no record.
    assert.equal(await fieldsOf('a,b#c,"d\ne,f\n', { comment: '#' }), 2);
    assert.equal(await fieldsOf(' #c,d,e\n\t# f,g\na,b\n', { comment: '#' }), 2);
    assert.equal(await fieldsOf('x\n', { skipHead: 1 }), undefined);
    assert.equal(await fieldsOf(''), undefined);
  });

  test('a quoted field may hold delimiters, quotes and line breaks', async () => {
    assert.equal(await fieldsOf('1,"a, ""b""\nc",3\n4,5,6\n'), 3);
    assert.equal(await fieldsOf("1,'x\\'y,z',3\n", { quote: "'", escape: '\\' }), 3);
  });

  test('a quote inside an unquoted field is data, as DuckDB reads it, and a lone "\\r" ends a record', async () => {
    assert.equal(await fieldsOf('2024-01-01 00:00:00,5" disk,1\n2024-01-01 00:00:01,y,2\n'), 3);
    assert.equal(await fieldsOf('a,b"c"d,"e""f",g\n'), 4);
    assert.equal(await fieldsOf('a,b,c\r1,2,3\r'), 3);
  });

  test('lines that all end in a lone "\r" (old Mac files) are lines of the skipped head too', async () => {
    assert.equal(await fieldsOf('h1,h2\r1,2,3,4\r5,6,7,8\r', { skipHead: 1 }), 4);
    assert.equal(await fieldsOf('h\r\r# by hand\r1,2,3\r', { skipHead: 1, comment: '#' }), 3);
    assert.equal(await fieldsOf('h1\rh2\r1,2,3', { skipHead: 2 }), 3);
    assert.equal(await fieldsOf('h1\r', { skipHead: 1 }), undefined);
    // A head line that leaves a quote open is blanked with the file's own line ending.
    assert.deepEqual(await headOf('t,"size\r1,2\r', { skipHead: 1 }), { bytes: 8, lines: 1, lineEnding: '\r' });
    assert.deepEqual(await headOf('t,"size\r\n1,2\r\n', { skipHead: 1 }), { bytes: 9, lines: 1, lineEnding: '\r\n' });
  });

  test('one space may lead a quoted field, as DuckDB reads it; after two spaces or a tab a quote is data', async () => {
    assert.equal(await fieldsOf('1, "a,b", "c\nd",4\n'), 4);
    assert.equal(await fieldsOf(' "a,b",2\n'), 2);
    assert.equal(await fieldsOf('1,  "a,b",3\n'), 4);
    assert.equal(await fieldsOf('1,\t"a,b",3\n'), 4);
  });

  test('a skipped head line that leaves a quoted field open is told, with the head’s length', async () => {
    assert.deepEqual(await headOf('time,"size,n\n1,2,3\n', { skipHead: 1 }), { bytes: 13, lines: 1, lineEnding: '\n' });
    assert.deepEqual(await headOf('\uFEFFé,"x\r\nsecond\r\n1,2\r\n', { skipHead: 2 }), { bytes: Buffer.byteLength('\uFEFFé,"x\r\nsecond\r\n'), lines: 2, lineEnding: '\r\n' });
    assert.equal(await headOf('"a","b"\n1,2\n', { skipHead: 1 }), undefined);
    // Text after a closing quote: DuckDB's skip would read no record after it.
    assert.deepEqual(await headOf('"a"x,b\n1,2\n', { skipHead: 1 }), { bytes: 7, lines: 1, lineEnding: '\n' });
    assert.deepEqual(await headOf('x\r\na,"b" \tc\r\n1,2\r\n', { skipHead: 2 }), { bytes: 13, lines: 2, lineEnding: '\r\n' });
    assert.equal(await headOf('a,"b" ,c\n1,2\n', { skipHead: 1 }), undefined);
    assert.equal(await headOf('a,5" b\n1,2\n', { skipHead: 1 }), undefined);
    assert.equal(await headOf('time,"size,n\n1,2,3\n'), undefined);
  });

  test('a skipped head whose lines end otherwise than the first record is told, with the record’s line ending', async () => {
    assert.deepEqual(await headOf('h1\r\nh2\n1,2\n', { skipHead: 2 }), { bytes: 7, lines: 2, lineEnding: '\n' });
    assert.deepEqual(await headOf('h1\r\n1,2\n', { skipHead: 1 }), { bytes: 4, lines: 1, lineEnding: '\n' });
    assert.deepEqual(await headOf('h1\rh2\n\n1,2\r\n', { skipHead: 2 }), { bytes: 7, lines: 3, lineEnding: '\r\n' });
    assert.deepEqual(await headOf('h1\nh2\n1,2\r\n', { skipHead: 2 }), { bytes: 6, lines: 2, lineEnding: '\r\n' });
    // No record ends a line: the head's lines still must end alike.
    assert.deepEqual(await headOf('h1\r\nh2\n1,2', { skipHead: 2 }), { bytes: 7, lines: 2, lineEnding: '\r\n' });
    assert.equal(await headOf('h1\r\nh2\r\n1,2', { skipHead: 2 }), undefined);
    assert.equal(await headOf('h1\r\nh2\r\n1,2\r\n3,4\n', { skipHead: 2 }), undefined);
    assert.equal(await headOf('h1\rh2\r1,2\r', { skipHead: 2 }), undefined);
    // Blank lines after the head go with it: a "\r" written for the head's last line would join their "\n".
    assert.deepEqual(await headOf('h1\nh2\n\n1|2\r3|4\r', { skipHead: 2, delimiter: '|' }), { bytes: 7, lines: 3, lineEnding: '\r' });
    assert.deepEqual(await headOf('h\r\n\n1,2\r\n', { skipHead: 1 }), { bytes: 4, lines: 2, lineEnding: '\r\n' });
    assert.equal(await headOf('h\n\n1,2\n', { skipHead: 1 }), undefined);
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

/** Converts one CSV file of (t, v, w) records with the options; answers its account and values. */
async function loadCsv(content: string, format_details: Record<string, unknown>) {
  const file = path.join(dir, `load-${n++}.csv`);
  writeFileSync(file, content);
  const { transform } = validateTransform('csv', {
    format_details,
    output_columns: [
      { name: 't', datatype: { type: 'datetime', primary: true, format: '2006-01-02 15:04:05', source: { from_input_index: 0 } } },
      { name: 'v', datatype: { type: 'string', source: { from_input_index: 1 } } },
      { name: 'w', datatype: { type: 'string', source: { from_input_index: 2 } } },
    ],
  });
  const engine = await openDuckDB({ kind: 'worker-slot', threads: 1, memoryLimit: '256MB', tempDirectory: path.join(dir, 'spill'), allowedDirectories: [dir] });
  try {
    return await withConnection(engine, undefined, async (c) => {
      const groups = await readGroups(transform, [file], { maxLineBytes: 1 << 20, copyOf: () => path.join(dir, `copy-${n++}`) });
      // As an INDEX task converts: a file whose line endings the reader refuses is read again evened out.
      const { chunk } = await convertWithEvenLineEndings({ connection: c, transform, groups, fileCount: 1, nowMs: 0 }, () => path.join(dir, `even-${n++}`));
      const rows = await queryRows<{ v: string; w: string }>(c, `SELECT v, w FROM ${chunk.converted} WHERE __inlet_reason IS NULL ORDER BY rowid`);
      await chunk.drop();
      return { account: chunk.accounts[0]!, rows };
    });
  } finally {
    engine.closeSync();
  }
}

describe('quotes DuckDB would read past a line', () => {
  test('a skipped header with an unbalanced quote skips its lines, not the file', async () => {
    const { account, rows } = await loadCsv('time,"size,n\n2024-01-01 00:00:00,x,1\n2024-01-01 00:00:01,y,2\n', { skip_head: 1 });
    assert.deepEqual(account, { rowsRead: 2, rowsWritten: 2, rowsRejected: 0, rejects: [] });
    assert.deepEqual(rows, [
      { v: 'x', w: '1' },
      { v: 'y', w: '2' },
    ]);
    // Over CRLF and two head lines, the second one long enough to be taken out first.
    const long = await loadCsv(`"a\r\n${'b'.repeat(2 << 20)}\r\n2024-01-01 00:00:00,x,1\r\n`, { skip_head: 2 });
    assert.equal(long.account.rowsRead - long.account.rowsRejected, 1);
    assert.deepEqual(long.rows, [{ v: 'x', w: '1' }]);
  });

  test('a skipped header with text after a closing quote skips its lines, not the file', async () => {
    for (const head of ['"time"x,v,w\n', 'by hand\n"a" b\n']) {
      const { account, rows } = await loadCsv(`${head}2024-01-01 00:00:00,x,1\n2024-01-01 00:00:01,y,2\n`, { skip_head: head.split('\n').length - 1 });
      assert.deepEqual(account, { rowsRead: 2, rowsWritten: 2, rowsRejected: 0, rejects: [] });
      assert.equal(rows.length, 2);
    }
  });

  test('a comment line in the skipped head counts as a line, not as a record skipped in its place', async () => {
    const body = '2024-01-01 00:00:00,x,1\n2024-01-01 00:00:01,y,2\n';
    for (const head of ['time,v,w\n# made by hand\n', '  # made by hand\n#\n']) {
      const { account, rows } = await loadCsv(head + body, { skip_head: 2, skip_comments: true, comment: '#' });
      assert.deepEqual(account, { rowsRead: 2, rowsWritten: 2, rowsRejected: 0, rejects: [] }, JSON.stringify(head));
      assert.equal(rows.length, 2);
    }
    assert.deepEqual(await headOf('h\n#c\n1,2\n', { skipHead: 2, comment: '#' }), { bytes: 5, lines: 2, lineEnding: '\n' });
    assert.equal(await headOf('h\n#c\n1,2\n', { skipHead: 1, comment: '#' }), undefined);
  });

  test('a skipped head whose lines end otherwise than the records skips its lines, not the records', async () => {
    const body = '2024-01-01 00:00:00,x,1\n2024-01-01 00:00:01,y,2\n';
    for (const head of ['h1\r\nh2\n', 'h1\rh2\n', 'h1\nh2\r\n', 'h1\r\n\n']) {
      const { account, rows } = await loadCsv(head + body, { skip_head: 2 });
      assert.deepEqual(account, { rowsRead: 2, rowsWritten: 2, rowsRejected: 0, rejects: [] }, JSON.stringify(head));
      assert.deepEqual(rows, [
        { v: 'x', w: '1' },
        { v: 'y', w: '2' },
      ]);
    }
    // A blank line after the head ends in "\n", the records in "\r".
    const cr = await loadCsv(`h1\nh2\n\n${body.replaceAll('\n', '\r')}`, { skip_head: 2 });
    assert.deepEqual(cr.account, { rowsRead: 2, rowsWritten: 2, rowsRejected: 0, rejects: [] });
    // A long head line is taken out as an empty line ending in "\n": over "\r\n" lines, the head then ends unevenly.
    const long = await loadCsv(`h1\r\n${'h'.repeat(2 << 20)}\r\n${body.replaceAll('\n', '\r\n')}`, { skip_head: 2 });
    assert.equal(long.account.rowsWritten, 2);
    assert.equal(long.rows.length, 2);
  });

  test('a quote that never closes refuses the file, naming its line, instead of the lines after it vanishing', async () => {
    const good = (i: number) => `2024-01-01 00:00:0${i},v${i},${i}\n`;
    await assert.rejects(loadCsv(`h\n${good(1)}2024-01-01 00:00:02,"oops,2\n${good(3)}${good(4)}`, { skip_head: 1 }), (err: unknown) => {
      assert.ok(err instanceof UnreadableFileError);
      assert.equal(err.fileNumber, 0);
      assert.match(err.message, /^line 3: a quoted field opens on this line and no quote closes it/);
      return true;
    });
    // On the last line, or closed and followed by more text, the record is one reject like any other.
    for (const bad of ['2024-01-01 00:00:02,"oops,2\n', '2024-01-01 00:00:02,"oops"x,2\n']) {
      const { account } = await loadCsv(`${good(1)}${bad}${bad.endsWith('x,2\n') ? good(3) : ''}`, {});
      assert.equal(account.rowsRejected, 1);
      assert.equal(account.rowsRead, bad.endsWith('x,2\n') ? 3 : 2);
      assert.match(account.rejects[0]!.reason, bad.endsWith('x,2\n') ? /^UNQUOTED VALUE: a quoted field is followed by other text/ : /^UNQUOTED VALUE: the file ends inside a quoted field this record opens/);
    }
  });

  test('a quoted field that spans lines, closes and is followed by text is one reject, the records after it loaded', async () => {
    const good = (i: number) => `2024-01-01 00:00:0${i},v${i},${i}\n`;
    const { account, rows } = await loadCsv(`${good(1)}2024-01-01 00:00:02,"two\nlines"x,2\n${good(3)}`, {});
    assert.equal(account.rowsRead, 3);
    assert.equal(account.rowsRejected, 1);
    assert.equal(account.rejects[0]!.line, 2);
    assert.match(account.rejects[0]!.reason, /^UNQUOTED VALUE/);
    assert.deepEqual(
      rows.map((r) => r.v),
      ['v1', 'v3'],
    );
    // A quote opened after such a record and never closed still refuses the file, naming its line.
    await assert.rejects(loadCsv(`${good(1)}2024-01-01 00:00:02,"two\nlines"x,2\n${good(3)}2024-01-01 00:00:04,"oops,4\n${good(5)}`, {}), /line 4: a quoted field opens on this line/);
  });

  test('a stray quote in the first record leaves the field count as DuckDB reads it', async () => {
    const { account, rows } = await loadCsv('2024-01-01 00:00:00,5" disk,1\n2024-01-01 00:00:01,y,2\n2024-01-01 00:00:02,z,3\n', {});
    assert.deepEqual(account, { rowsRead: 3, rowsWritten: 3, rowsRejected: 0, rejects: [] });
    assert.deepEqual(
      rows.map((r) => r.v),
      ['5" disk', 'y', 'z'],
    );
  });
});

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
