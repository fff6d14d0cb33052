import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { leaveOutMisfits, leftOutHow, LINE_FIELDS, MisfitBudget, UnclosedQuoteError } from '../src/ingest/misfit-records.js';
import type { CsvOptions } from '../src/transform/model.js';
import { CSV_TRANSFORM, JSON_TRANSFORM, referenceJob } from './helpers/data.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

const CSV: CsvOptions = { delimiter: ',', quote: '"', escape: '"', skipHead: 0, comment: undefined };

let root: string;
before(() => {
  root = mkdtempSync(path.join(tmpdir(), 'inlet-misfits-'));
});
after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

let n = 0;
async function judge(text: string | Buffer, fields: number, csv: CsvOptions = CSV, headLines = 0) {
  const file = path.join(root, `in-${n++}.csv`);
  writeFileSync(file, text);
  const how = csv === LINE_FIELDS ? leftOutHow('lines', fields) : leftOutHow('csv', fields);
  const { path: kept, misfits } = await leaveOutMisfits(file, `${file}.fields`, csv, fields, headLines, how);
  return { text: readFileSync(kept, 'utf8'), copied: kept !== file, misfits: misfits.map((m) => [m.line, m.fields, m.raw && m.raw.length > 40 ? `${m.raw.length} chars` : m.raw]) };
}

describe('records judged by their field count before DuckDB reads them', () => {
  test('a file of fitting records is used as it is: past its fields, a record may hold empty ones (DuckDB drops them)', async () => {
    const text = 'a,b,c\n1,2,3\n6,7,8,\n6,7,8,,,,\n6,7,8,"",\n1,,\n"x,y,z,w",2,3\n"a\nb",2,3,,\n1,2,3,"" \n1,2,3,"",""  \n1,2,3,\0\n1,2,3,"\0"\n1,2,3, ""\n1, "x,y",3\n "x,y", "a\nb",3\n';
    assert.deepEqual(await judge(text, 3), { text, copied: false, misfits: [] });
  });

  test('records DuckDB would refuse for their field count are blanked, one field off too, numbered as DuckDB numbers lines', async () => {
    const got = await judge('a,b,c\n4,5\n1,2,3,4\n1,2,3,,x\n1,2,3," "\n1,2,3,""""\n  \n"",""\n1,2,3\n', 3);
    assert.deepEqual(got.misfits, [
      [2, 2, '4,5'],
      [3, 4, '1,2,3,4'],
      [4, 5, '1,2,3,,x'],
      [5, 4, '1,2,3," "'],
      [6, 4, '1,2,3,""""'],
      [7, 1, '  '],
      [8, 2, '"",""'],
    ]);
    assert.equal(got.text, 'a,b,c\n\n\n\n\n\n\n\n1,2,3\n');
  });

  test('one space may lead a quoted field, as DuckDB reads it; after two spaces or a tab a quote is data', async () => {
    const got = await judge('a,b,c\n1, "x,y",3\n1,  "x,y",3\n1,\t"x,y",3\n1,2,3, " "\n1,2,3, \n', 3);
    assert.deepEqual(got.misfits, [
      [3, 4, '1,  "x,y",3'],
      [4, 4, '1,\t"x,y",3'],
      [5, 4, '1,2,3, " "'],
      [6, 4, '1,2,3, '],
    ]);
  });

  test('records far from the file’s field count are blanked too', async () => {
    const wide = Array.from({ length: 40_000 }, () => 'x').join(',');
    const got = await judge(`a,b,c\n1,2,3\n${wide}\n\n1\n4,"5\n5",6\n7,8,9,10,11\n`, 3);
    // Lines: header 1, good 2, wide 3, blank 4, "1" 5, the two-line record 6, the wide one 7.
    assert.equal(got.text, 'a,b,c\n1,2,3\n\n\n\n4,"5\n5",6\n\n');
    assert.deepEqual(got.misfits, [
      [3, 40_000, '79999 chars'],
      [5, 1, '1'],
      [7, 5, '7,8,9,10,11'],
    ]);
  });

  test('quotes, escapes, CRLF, a byte order mark, the skipped head and comments are read as DuckDB reads them', async () => {
    const got = await judge('\ufeffh1,h2,h3,h4,h5\r\n"a,b","c""d,e",3\r\n1,,,,,,x\r\n# x,y,z,1,2,3,4,5\r\n1,2,3\r\nlast', 3, { ...CSV, comment: '#' }, 1);
    assert.deepEqual(got.misfits, [
      [3, 7, '1,,,,,,x'],
      [6, 1, 'last'],
    ]);
    assert.equal(got.text, '\ufeffh1,h2,h3,h4,h5\r\n"a,b","c""d,e",3\r\n\r\n# x,y,z,1,2,3,4,5\r\n1,2,3\r\n');
    const escaped = await judge('1,"a\\",b,c,d,e",3\n1,"a\\\\",b\n', 3, { ...CSV, escape: '\\' });
    assert.deepEqual(escaped.misfits, []);
    // DuckDB reads a line only up to a comment, and skips one that starts with it after spaces.
    const commented = await judge('1,2,3 # x,y,z,w\n  \t# 1,2,3,4,5\n7,"8#9",10#,11,12\n#\n1 # ,,,,\n1,2,3,4,5 # x\n', 3, { ...CSV, comment: '#' });
    assert.deepEqual(commented.misfits, [
      [5, 1, '1 # ,,,,'],
      [6, 5, '1,2,3,4,5 # x'],
    ]);
  });

  test('text after a quoted field’s closing quote is judged on one line, left to DuckDB across lines (which refuses the file)', async () => {
    const got = await judge('"x"y,2,3\n"x"  ,2,3\n"x""y",2,3\n1,2,"x"\n"a\nb"c,2,3\n1,"x"\t,3\n', 3);
    // Spaces may follow a closing quote, a tab may not.
    assert.deepEqual(got.misfits, [
      [1, 3, '"x"y,2,3'],
      [6, 3, '1,"x"\t,3'],
    ]);
    const escaped = await judge('"x\\"y",2,3\n"x"y,2,3\n', 3, { ...CSV, escape: '\\' });
    assert.deepEqual(escaped.misfits, [[2, 3, '"x"y,2,3']]);
  });

  test('a record the file ends inside quotes of is judged on one line, and refuses its file across lines', async () => {
    const got = await judge('1,2,3\n1,"open,a,b,c,d\n', 3);
    assert.deepEqual(got.misfits, [[2, 2, '1,"open,a,b,c,d']]);
    assert.equal(got.text, '1,2,3\n\n');
    await assert.rejects(judge('1,2,3\n1,"open\nmore,4\n5,6,7\n', 3), (err: unknown) => err instanceof UnclosedQuoteError && err.line === 2);
  });

  test('an NDJSON line holding \\x01 before something is blanked; a one-field CSV record is taken out whole (a blank line would read as a NULL record)', async () => {
    const got = await judge('{"a":1}\n{"a":"\u0001\u0001"}\n{"a":2}\r\n\u0001\u0001\u0001x', 1, LINE_FIELDS);
    assert.equal(got.text, '{"a":1}\n\n{"a":2}\r\n');
    assert.deepEqual(got.misfits, [
      [2, 3, '{"a":"\u0001\u0001"}'],
      [4, 4, '\u0001\u0001\u0001x'],
    ]);
    assert.equal((await judge('{"a":1}\n{"a":1}\u0001\n', 1, LINE_FIELDS)).copied, false);
    const single = await judge('value\nx\ny,z\nw,\n', 1);
    assert.equal(single.text, 'value\nx\nw,\n');
    assert.deepEqual(single.misfits, [[3, 2, 'y,z']]);
  });

  test('records that are not UTF-8 are blanked, a character cut between the reader’s pieces is not one', async () => {
    const bad = Buffer.concat([Buffer.from('a,b,c\n1,2,3\n1,'), Buffer.from([0xff, 0xfe]), Buffer.from(',3\n4,5,6\n')]);
    const got = await judge(bad, 3);
    assert.deepEqual(got.misfits, [[3, 3, '1,\ufffd\ufffd,3']]);
    assert.equal(got.text, 'a,b,c\n1,2,3\n\n4,5,6\n');
    const ndjson = await judge(Buffer.concat([Buffer.from('{"a":1}\n{"a":"'), Buffer.from([0xc3]), Buffer.from('"}\n{"a":2}\n')]), 1, LINE_FIELDS);
    assert.deepEqual(ndjson.misfits, [[2, 1, '{"a":"\ufffd"}']]);
    assert.equal(ndjson.text, '{"a":1}\n\n{"a":2}\n');
    // "é" is two bytes: the first ends the first 1 MiB piece.
    const cut = `${'x'.repeat(1024 * 1024 - 2)},é,z\n1,2,3\n`;
    assert.equal(Buffer.from(cut)[1024 * 1024 - 1], 0xc3);
    assert.deepEqual((await judge(cut, 3)).misfits, []);
  });

  test('the files of a chunk share one budget of misfits: the file that passes it is refused', async () => {
    const budget = new MisfitBudget();
    budget.left = 3;
    const file = (name: string, text: string) => {
      const at = path.join(root, name);
      writeFileSync(at, text);
      return at;
    };
    const first = await leaveOutMisfits(file('budget-1.csv', '1,2\n1\n1\n'), path.join(root, 'budget-1.fields'), CSV, 2, 0, 'blank-skipped', budget);
    assert.equal(first.misfits.length, 2);
    await assert.rejects(leaveOutMisfits(file('budget-2.csv', '1,2\n1\n3\n'), path.join(root, 'budget-2.fields'), CSV, 2, 0, 'blank-skipped', budget), /more than the 100000 a task's files may hold together/);
  });

  test('records across the reader’s pieces are judged whole', async () => {
    const good = `${'y'.repeat(100)},2,3\n`.repeat(30_000);
    const bad = `${Array.from({ length: 500_000 }, () => '1').join(',')}\r\n`;
    const got = await judge(`${good}${bad}"q\r\n,${'z,'.repeat(400_000)}",2,3\n${good}`, 3);
    assert.deepEqual(got.misfits, [[30_001, 500_000, '999999 chars']]);
    assert.equal(got.text.length, good.length * 2 + 2 + `"q\r\n,${'z,'.repeat(400_000)}",2,3\n`.length);
  });
});

describe('a job over files with misfit records', () => {
  let s3: LocalS3;
  let inlet: TestInlet;
  before(async () => {
    s3 = await startLocalS3();
    await s3.createBucket('misfits');
    inlet = await startInlet({ s3Endpoint: s3.endpoint });
    await createWebsiteEvents(inlet.api, [CSV_TRANSFORM, JSON_TRANSFORM]);
  });
  after(async () => {
    await inlet?.stop();
    await s3?.stop();
  });

  const row = (second: number) => `2024-01-01 00:00:${String(second).padStart(2, '0')},a.example.com,200,1,0.5,true`;

  test('a record of 30,000 fields, short records after a wide first one, and NDJSON lines of \\x01 are each one rejected record', async () => {
    const wide = Array.from({ length: 30_000 }, () => 'x').join(',');
    await s3.put('misfits', 'csv/wide.csv', `timestamp,host,status,bytes,latency,cached\n${row(1)}\n${wide}\n${row(2)}\n1\n${row(3)}\n`);
    // A first record of 500 fields makes every later record a misfit: each is rejected once.
    await s3.put('misfits', 'csv/zwide-first.csv', `timestamp,host,status,bytes,latency,cached\n${wide.slice(0, 999)}\n${`${row(4)}\n`.repeat(2000)}`);
    const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob('misfits csv', 's3://misfits/csv/'));
    assert.equal(created.status, 200, created.text);
    const done = await inlet.api.waitForJob(created.body.uuid, undefined, 180_000);
    const files = [...done.details.files].sort((a: { url: string }, b: { url: string }) => (a.url < b.url ? -1 : 1));
    assert.deepEqual(
      files.map((f: { rows_read: number; rows_written: number; rows_rejected: number }) => [f.rows_read, f.rows_written, f.rows_rejected]),
      [
        [5, 3, 2],
        [2001, 0, 2001],
      ],
    );
    assert.deepEqual(
      files[0].rejects.map((r: { line: number; reason: string }) => [r.line, r.reason]),
      [
        [3, "TOO MANY COLUMNS: the record has 30000 fields and the file's records have 6 (its first record's count)"],
        [5, "MISSING COLUMNS: the record has 1 fields and the file's records have 6 (its first record's count)"],
      ],
    );
    assert.match(files[1].rejects[1].reason, /^MISSING COLUMNS: the record has 6 fields and the file's records have 500/);

    const lines = [JSON.stringify({ ts: Date.UTC(2024, 0, 1), host: 'a', status: 200, bytes: 1, latency: 0.5, cached: true }), `${'\u0001'.repeat(30_000)}x`];
    await s3.put('misfits', 'json/x01.ndjson', `${lines[0]}\n${lines[1]}\n${lines[0]}\n`);
    const json = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob('misfits json', 's3://misfits/json/', { transform: JSON_TRANSFORM.name }));
    assert.equal(json.status, 200, json.text);
    const jsonDone = await inlet.api.waitForJob(json.body.uuid, undefined, 180_000);
    const [file] = jsonDone.details.files;
    assert.deepEqual([file.rows_read, file.rows_written, file.rows_rejected], [3, 2, 1]);
    assert.deepEqual(
      file.rejects.map((r: { line: number; reason: string }) => [r.line, r.reason.split(':')[0]]),
      [[2, 'TOO MANY COLUMNS']],
    );
  });
});
