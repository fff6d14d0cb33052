import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBInstance } from '@duckdb/node-api';
import { UnsupportedLayoutError, goLayoutParseSql, goLayoutToStrptime } from '../src/transform/go-layout.js';

const instance = await DuckDBInstance.create(':memory:');
const connection = await instance.connect();
// Results must not depend on the session time zone.
await connection.run("SET TimeZone = 'America/New_York'");

after(() => {
  connection.closeSync();
  instance.closeSync();
});

const sqlString = (s: string | null) => (s === null ? 'NULL' : `'${s.replace(/'/g, "''")}'`);

async function parse(layout: string, input: string | null): Promise<string | null> {
  const sql = `SELECT CAST(${goLayoutParseSql(layout, 'v')} AS VARCHAR) AS r FROM (SELECT CAST(${sqlString(input)} AS VARCHAR) AS v)`;
  const rows = (await connection.runAndReadAll(sql)).getRowObjectsJson();
  return rows[0]?.['r'] as string | null;
}

// [layout, input, expected UTC timestamp as DuckDB prints it, or null for a reject]
const golden: [string, string | null, string | null][] = [
  ['2006-01-02 15:04:05', '2024-03-05 10:11:12', '2024-03-05 10:11:12'],
  // Go accepts a fraction after the seconds even when the layout has none.
  ['2006-01-02 15:04:05', '2024-03-05 10:11:12.345', '2024-03-05 10:11:12.345'],
  ['2006-01-02 15:04:05', '2024-02-30 10:11:12', null],
  ['2006-01-02 15:04:05', '2024-03-05 25:11:12', null],
  ['2006-01-02 15:04:05', '2024-03-05 10:11:60', null],
  ['2006-01-02 15:04:05', '2024-03-05', null],
  ['2006-01-02 15:04:05', '2024-03-05 10:11:12 trailing', null],
  ['2006-01-02 15:04:05', 'not a date', null],
  ['2006-01-02 15:04:05', '', null],
  ['2006-01-02 15:04:05', null, null],
  ['2006-01-02', '2024-03-05', '2024-03-05 00:00:00'],
  ['2006-01-02', '2024-03-05T10:11:12', null],
  ['2006-01-02T15:04:05.000Z07:00', '2024-03-05T10:11:12.345Z', '2024-03-05 10:11:12.345'],
  ['2006-01-02T15:04:05.000Z07:00', '2024-03-05T10:11:12.345+02:00', '2024-03-05 08:11:12.345'],
  ['2006-01-02T15:04:05.000Z07:00', '2024-03-05T10:11:12.345-05:30', '2024-03-05 15:41:12.345'],
  ['2006-01-02T15:04:05.000Z07:00', '2024-03-05T23:30:00.000-02:00', '2024-03-06 01:30:00'],
  ['2006-01-02T15:04:05.000Z07:00', '2024-03-05T10:11:12,345Z', '2024-03-05 10:11:12.345'],
  ['2006-01-02T15:04:05.000Z07:00', '2024-03-05T10:11:12.3456Z', null],
  ['2006-01-02T15:04:05.000Z07:00', '2024-03-05T10:11:12.345', null],
  ['02/Jan/2006:15:04:05 -0700', '05/Mar/2024:10:11:12 -0700', '2024-03-05 17:11:12'],
  ['02/Jan/2006:15:04:05 -0700', '05/mar/2024:10:11:12 +0130', '2024-03-05 08:41:12'],
  ['02/Jan/2006:15:04:05 -0700', '05/Mar/2024:10:11:12', null],
  ['02/Jan/2006:15:04:05 -0700', '05/Foo/2024:10:11:12 -0700', null],
  ['Mon, 02 Jan 2006 15:04:05 MST', 'Tue, 05 Mar 2024 10:11:12 GMT', '2024-03-05 10:11:12'],
  ['Mon, 02 Jan 2006 15:04:05 MST', 'Tue, 05 Mar 2024 10:11:12 UTC', '2024-03-05 10:11:12'],
  // ICU gives EST its real offset (Go would give an unknown abbreviation offset 0).
  ['Mon, 02 Jan 2006 15:04:05 MST', 'Tue, 05 Mar 2024 10:11:12 EST', '2024-03-05 15:11:12'],
  ['Mon, 02 Jan 2006 15:04:05 MST', 'Tue, 05 Mar 2024 10:11:12 XYZ', null],
  ['Mon, 02 Jan 2006 15:04:05 MST', 'Xyz, 05 Mar 2024 10:11:12 GMT', null],
  ['2006-01-02T15:04:05.999999999Z07:00', '2024-03-05T10:11:12Z', '2024-03-05 10:11:12'],
  ['2006-01-02T15:04:05.999999999Z07:00', '2024-03-05T10:11:12.5Z', '2024-03-05 10:11:12.5'],
  ['2006-01-02T15:04:05.999999999Z07:00', '2024-03-05T10:11:12.123456789Z', '2024-03-05 10:11:12.123456'],
  ['2006-01-02T15:04:05.999999999Z07:00', '2024-03-05T10:11:12.000001-07:00', '2024-03-05 17:11:12.000001'],
  ['2006-01-02T15:04:05.999999999Z07:00', '2024-03-05T10:11:12.Z', null],
  ['2006-01-02T15:04:05.999', '2024-03-05T10:11:12', '2024-03-05 10:11:12'],
  ['2006-01-02T15:04:05.999', '2024-03-05T10:11:12.1234567', '2024-03-05 10:11:12.123456'],
  ['01/02/2006 3:04:05 PM', '03/05/2024 3:04:05 PM', '2024-03-05 15:04:05'],
  ['01/02/2006 3:04:05 PM', '03/05/2024 12:00:00 AM', '2024-03-05 00:00:00'],
  ['01/02/2006 3:04:05 PM', '03/05/2024 12:30:00 PM', '2024-03-05 12:30:00'],
  ['01/02/2006 3:04:05 PM', '03/05/2024 11:59:59 AM', '2024-03-05 11:59:59'],
  ['01/02/2006 3:04:05 PM', '03/05/2024 13:04:05 PM', null],
  ['2006-01-02 03:04pm', '2024-03-05 09:30pm', '2024-03-05 21:30:00'],
  ['20060102150405', '20240305101112', '2024-03-05 10:11:12'],
  ['20060102150405', '20241305101112', null],
  ['02 January 2006', '05 March 2024', '2024-03-05 00:00:00'],
  ['Monday, January 2, 2006', 'Tuesday, March 5, 2024', '2024-03-05 00:00:00'],
  ['Jan _2 15:04:05 2006', 'Mar  5 10:11:12 2024', '2024-03-05 10:11:12'],
  ['Jan _2 15:04:05 2006', 'Mar 15 10:11:12 2024', '2024-03-15 10:11:12'],
  ['1/2/2006 15:4:5', '3/5/2024 7:8:9', '2024-03-05 07:08:09'],
  ['06-01-02', '24-03-05', '2024-03-05 00:00:00'],
  ['06-01-02', '69-03-05', '1969-03-05 00:00:00'],
  // ".002" is a literal "." and the day of year (Go only reads .000 as a fraction when no digit follows).
  ['2006.002', '2024.065', '2024-03-05 00:00:00'],
  ['2006-002 15:04', '2024-065 10:11', '2024-03-05 10:11:00'],
  ['2006-01-02 15:04:05.0', '2024-03-05 10:11:12.5', '2024-03-05 10:11:12.5'],
  ['2006-01-02 15:04:05.00', '2024-03-05 10:11:12.25', '2024-03-05 10:11:12.25'],
  ['2006-01-02 15:04:05,000', '2024-03-05 10:11:12,125', '2024-03-05 10:11:12.125'],
  ['2006-01-02 15:04:05.000000', '2024-03-05 10:11:12.123456', '2024-03-05 10:11:12.123456'],
  ['2006-01-02 15:04:05.0000000', '2024-03-05 10:11:12.1234567', '2024-03-05 10:11:12.123456'],
  ['2006-01-02 15:04:05.000000000', '2024-03-05 10:11:12.000000001', '2024-03-05 10:11:12'],
  ['2006-01-02T15:04:05-07:00', '2024-03-05T10:11:12-07:00', '2024-03-05 17:11:12'],
  ['2006-01-02T15:04:05-07:00', '2024-03-05T10:11:12Z', null],
  ['2006-01-02T15:04:05Z0700', '2024-03-05T10:11:12Z', '2024-03-05 10:11:12'],
  ['2006-01-02T15:04:05Z0700', '2024-03-05T10:11:12+0530', '2024-03-05 04:41:12'],
  ['2006-01-02 15:04:05 -07', '2024-03-05 10:11:12 +03', '2024-03-05 07:11:12'],
  ['2006-01-02 15:04:05Z07', '2024-03-05 10:11:12Z', '2024-03-05 10:11:12'],
  ['2006-01-02 15:04:05 -07:00:00', '2024-03-05 10:11:12 +02:00:30', '2024-03-05 08:10:42'],
  // A bare "Z" is literal text: the value carries no zone and is taken as UTC.
  ['2006-01-02T15:04:05Z', '2024-03-05T10:11:12Z', '2024-03-05 10:11:12'],
  ['2006-01-02 %', '2024-03-05 %', '2024-03-05 00:00:00'],
  ["2006-01-02 'x'", "2024-03-05 'x'", '2024-03-05 00:00:00'],
];

for (const [layout, input, expected] of golden) {
  test(`${layout} <- ${JSON.stringify(input)}`, async () => {
    assert.equal(await parse(layout, input), expected);
  });
}

test('formats and zone flag', () => {
  assert.deepEqual(goLayoutToStrptime('2006-01-02'), { formats: ['%Y-%m-%d'], hasZone: false });
  assert.deepEqual(goLayoutToStrptime('02/Jan/2006:15:04:05.000 -0700'), {
    formats: ['%d/%b/%Y:%H:%M:%S.%g %z', '%d/%b/%Y:%H:%M:%S,%g %z'],
    hasZone: true,
  });
  assert.deepEqual(goLayoutToStrptime('2006-01-02T15:04:05.999Z07:00').formats, [
    '%Y-%m-%dT%H:%M:%S.%n%z',
    '%Y-%m-%dT%H:%M:%S.%nZ',
    '%Y-%m-%dT%H:%M:%S,%n%z',
    '%Y-%m-%dT%H:%M:%S,%nZ',
    '%Y-%m-%dT%H:%M:%S%z',
    '%Y-%m-%dT%H:%M:%SZ',
  ]);
  assert.equal(goLayoutToStrptime('Mon Jan _2 15:04:05 MST 2006').hasZone, true);
  assert.deepEqual(goLayoutToStrptime('2006-01-02 %').formats, ['%Y-%m-%d %%']);
});

test('unsupported layouts throw UnsupportedLayoutError', () => {
  for (const [layout, element] of [
    ['2006-01-02 15:04:05 -070000', '-070000'],
    ['2006-01-02T15:04:05Z070000', 'Z070000'],
  ] as const) {
    assert.throws(
      () => goLayoutToStrptime(layout),
      (e: unknown) => e instanceof UnsupportedLayoutError && e.message.includes(layout) && e.message.includes(element),
    );
    assert.throws(() => goLayoutParseSql(layout, 'v'), UnsupportedLayoutError);
  }
  // The formats multiply with each element that has alternatives: a layout repeating them is refused before they are built.
  assert.throws(() => goLayoutToStrptime(Array(10).fill('05.999 Z07:00').join(' ')), /more than 64 DuckDB formats/);
  assert.equal(goLayoutToStrptime('2006-01-02 15:04:05 / 2006-01-02 15:04:05').formats.length, 9);
  assert.throws(() => goLayoutToStrptime(`2006-01-02 ${'x'.repeat(1_000_000)}`), /has 1000011 characters: write one timestamp's layout, at most 256 characters/);
  assert.throws(() => goLayoutToStrptime('hello'), UnsupportedLayoutError);
  assert.throws(() => goLayoutToStrptime(''), UnsupportedLayoutError);
});

// A value without the layout's punctuation in order is refused before any try_strptime runs (a
// failed one costs DuckDB far more than a parsed one); the guard must never refuse what parses.
test('the punctuation guard refuses only values that cannot parse', async () => {
  assert.match(goLayoutParseSql('2006-01-02 15:04:05', 'v'), /^CASE WHEN v LIKE '%-%-%:%:%' THEN /);
  assert.match(goLayoutParseSql('Mon, 02 Jan 2006 15:04:05 MST', 'v'), /^CASE WHEN v LIKE '%,%:%:%' THEN /);
  // Nothing to look for: every value goes to try_strptime.
  assert.doesNotMatch(goLayoutParseSql('20060102150405', 'v'), /LIKE/);
  const layouts = [...new Set(golden.map(([layout]) => layout))];
  const inputs = [...new Set(golden.map(([, input]) => input).filter((input): input is string => input !== null))];
  inputs.push('not-a-time', '-', 'N/A', '1700000000', '2024/03/05 10:11:12', '10:11:12 2024-03-05', '2024-03-05 10:11:12%', "2024-03-05 'x", '\u00a02024-03-05 10:11:12');
  for (const layout of layouts) {
    const guarded = goLayoutParseSql(layout, 'v');
    const unguarded = /^CASE WHEN .*? THEN (.*) END$/s.exec(guarded)?.[1] ?? guarded;
    const values = inputs.map((input) => `(${sqlString(input)})`).join(', ');
    const rows = (await connection.runAndReadAll(`SELECT v, CAST(${guarded} AS VARCHAR) AS g, CAST(${unguarded} AS VARCHAR) AS u FROM (VALUES ${values}) t(v)`)).getRowObjectsJson();
    for (const row of rows) assert.equal(row['g'], row['u'], `layout ${layout}, value ${JSON.stringify(row['v'])}`);
    // The corpus holds values each layout parses, so the comparison is not of NULLs alone.
    assert.ok(
      rows.some((row) => row['u'] !== null),
      `layout ${layout}: no value of the corpus parses`,
    );
  }
});
