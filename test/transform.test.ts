import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { withConnection } from '../src/duckdb/engine.js';
import { previewFiles, type RecordOutcome } from '../src/ingest/preview.js';
import { checkSqlTransform } from '../src/transform/sql-check.js';
import { validateTransform } from '../src/transform/validate.js';

let engine: DuckDBInstance;
let dir: string;
/** A fixed clock, so limits.past/future cases do not drift. */
const NOW = Date.UTC(2024, 5, 1);

before(async () => {
  engine = await DuckDBInstance.create(':memory:', { preserve_insertion_order: 'true', threads: '1' });
  dir = mkdtempSync(path.join(tmpdir(), 'inlet-golden-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function run(type: 'csv' | 'json', settings: Record<string, unknown>, ...contents: string[]): Promise<RecordOutcome[][]> {
  const transform = await checkSqlTransform(validateTransform(type, settings).transform);
  const files = contents.map((c) => {
    const file = path.join(dir, `input-${n++}`);
    writeFileSync(file, c);
    return file;
  });
  return withConnection(engine, undefined, async (c) => (await previewFiles(c, transform, files, NOW)).records);
}

const TS = { name: 'ts', datatype: { type: 'datetime', primary: true, format: '2006-01-02 15:04:05', source: { from_input_index: 0 } } };

/** One CSV record: a timestamp, then the value under test read by a column of `datatype`. */
async function csvValue(datatype: Record<string, unknown>, field: string, extra: Record<string, unknown> = {}) {
  const [[record]] = (await run('csv', { ...extra, output_columns: [TS, { name: 'x', datatype: { ...datatype, source: { from_input_index: 1 } } }] }, `2024-01-01 00:00:00,${field}\n`)) as [[RecordOutcome]];
  return 'output' in record ? record.output.x : { rejected: record.rejected };
}

async function jsonValue(datatype: Record<string, unknown>, value: unknown) {
  const line = JSON.stringify({ ts: '2024-01-01 00:00:00', x: value });
  const settings = {
    output_columns: [
      { ...TS, datatype: { ...TS.datatype, source: { from_input_field: 'ts' } } },
      { name: 'x', datatype },
    ],
  };
  const [[record]] = (await run('json', settings, line + '\n')) as [[RecordOutcome]];
  return 'output' in record ? record.output.x : { rejected: record.rejected };
}

type Case = [string, Record<string, unknown>, string, unknown];
const rejects = (pattern: RegExp) => ({ rejects: pattern });

function check(actual: unknown, expected: unknown, label: string) {
  if (expected && typeof expected === 'object' && 'rejects' in expected) {
    assert.ok(actual && typeof actual === 'object' && 'rejected' in actual, `${label}: expected a reject, got ${JSON.stringify(actual)}`);
    assert.match((actual as { rejected: string }).rejected, (expected as { rejects: RegExp }).rejects, label);
  } else {
    assert.deepEqual(actual, expected, label);
  }
}

describe('golden cases: one CSV field through the real DuckDB pipeline', () => {
  const cases: Case[] = [
    ['string', { type: 'string' }, 'hello', 'hello'],
    ['string, quoted with the delimiter inside', { type: 'string' }, '"a,b ""c"""', 'a,b "c"'],
    ['boolean false', { type: 'boolean' }, 'FALSE', 0],
    ['boolean 0', { type: 'boolean' }, '0', 0],
    ['boolean: any other value is 1', { type: 'boolean' }, 'yes', 1],
    ['int8', { type: 'int8' }, '-128', -128],
    ['int8 out of range is rejected, not wrapped', { type: 'int8' }, '128', rejects(/cannot convert '128' to int8/)],
    ['int32', { type: 'int32' }, ' 42 ', 42],
    ['int32 with a fraction', { type: 'int32' }, '1.5', rejects(/cannot convert '1.5' to int32/)],
    ['int32 with a sign and leading zeros', { type: 'int32' }, '+007', 7],
    ['int32 in exponent form', { type: 'int32' }, '1e2', rejects(/cannot convert '1e2' to int32/)],
    ['int32 in hex', { type: 'int32' }, '0x10', rejects(/cannot convert '0x10' to int32/)],
    ['int64 with digit separators', { type: 'int64' }, '1_000', rejects(/cannot convert '1_000' to int64/)],
    ['int64 ending in a dot', { type: 'int64' }, '12.', rejects(/cannot convert '12.' to int64/)],
    ['int64', { type: 'int64' }, '9223372036854775807', '9223372036854775807'],
    ['uint8', { type: 'uint8' }, '255', 255],
    ['uint8 256', { type: 'uint8' }, '256', rejects(/to uint8/)],
    ['uint32 negative', { type: 'uint32' }, '-5', rejects(/cannot convert '-5' to uint32/)],
    ['uint64 max', { type: 'uint64' }, '18446744073709551615', '18446744073709551615'],
    ['uint64 past max', { type: 'uint64' }, '18446744073709551616', rejects(/to uint64/)],
    ['double', { type: 'double' }, '1.5e3', 1500],
    ['double not a number', { type: 'double' }, 'abc', rejects(/to double/)],
    ['double out of range', { type: 'double' }, '-1e400', rejects(/cannot convert '-1e400' to double/)],
    ['double infinity said so', { type: 'double' }, '-Infinity', -Infinity],
    ['datetime with a zone', { type: 'datetime', format: '2006-01-02T15:04:05Z07:00' }, '2024-03-01T10:00:00+02:00', '2024-03-01T08:00:00.000Z'],
    ['datetime64 fractional seconds', { type: 'datetime64', format: '2006-01-02T15:04:05.000Z07:00' }, '2024-03-01T10:00:00.123Z', '2024-03-01T10:00:00.123Z'],
    ['datetime truncates to seconds', { type: 'datetime', format: '2006-01-02T15:04:05.000Z07:00' }, '2024-03-01T10:00:00.987Z', '2024-03-01T10:00:00.000Z'],
    ['nginx layout', { type: 'datetime', format: '02/Jan/2006:15:04:05 -0700' }, '10/Oct/2024:13:55:36 -0700', '2024-10-10T20:55:36.000Z'],
    ['datetime not matching', { type: 'datetime', format: '2006-01-02' }, '01/02/2024', rejects(/cannot convert '01\/02\/2024' to datetime \(format 2006-01-02\)/)],
    ['datetime before 1970 is out of range', { type: 'datetime', format: '2006-01-02' }, '1969-12-31', rejects(/to datetime/)],
    ['datetime64 reaches back to 1925', { type: 'datetime64', format: '2006-01-02' }, '1930-05-01', '1930-05-01T00:00:00.000Z'],
    ['epoch s', { type: 'epoch', format: 's' }, '1700000000', '2023-11-14T22:13:20.000Z'],
    ['epoch ms, resolution ms', { type: 'epoch', format: 'ms', resolution: 'ms' }, '1700000000123', '2023-11-14T22:13:20.123Z'],
    ['epoch ns', { type: 'epoch', format: 'ns', resolution: 'ms' }, '1700000000123456789', '2023-11-14T22:13:20.123Z'],
    ['epoch cs', { type: 'epoch', format: 'cs' }, '170000000012', '2023-11-14T22:13:20.000Z'],
    ['epoch us from a decimal string', { type: 'epoch', format: 'us', resolution: 'ms' }, '1700000000123456.7', '2023-11-14T22:13:20.123Z'],
    ['epoch not a number', { type: 'epoch', format: 's' }, 'soon', rejects(/to epoch/)],
    // An integer cast rounds '…20.723' up to the next second; a fraction is read as a number.
    ['epoch s with a fraction, resolution ms', { type: 'epoch', format: 's', resolution: 'ms' }, '1700000000.723', '2023-11-14T22:13:20.723Z'],
    ['epoch s with a fraction, truncated to the second', { type: 'epoch', format: 's' }, '1700000000.723', '2023-11-14T22:13:20.000Z'],
    ['epoch s in exponent form', { type: 'epoch', format: 's' }, '1.7e9', '2023-11-14T22:13:20.000Z'],
    ['epoch s padded with spaces', { type: 'epoch', format: 's' }, ' 1700000000 ', '2023-11-14T22:13:20.000Z'],
    ['epoch ms with a fraction is truncated, not rounded', { type: 'epoch', format: 'ms', resolution: 'ms' }, '1700000000123.9', '2023-11-14T22:13:20.123Z'],
    ['epoch s negative is before the range', { type: 'epoch', format: 's' }, '-1', rejects(/to epoch/)],
    ['epoch s past 2106 is out of the range', { type: 'epoch', format: 's' }, '99999999999', rejects(/to epoch/)],
    ['epoch s infinite', { type: 'epoch', format: 's' }, 'inf', rejects(/to epoch/)],
    ['epoch ns truncates to the microsecond, not rounds', { type: 'epoch', format: 'ns', resolution: 'ms' }, '999999', '1970-01-01T00:00:00.000Z'],
    ['epoch s beyond any timestamp', { type: 'epoch', format: 's' }, '170000000000000000000000', rejects(/to epoch/)],
    // A fraction before 1970 is before the range, not rounded nor divided to the epoch itself.
    ['epoch ns a nanosecond before 1970', { type: 'epoch', format: 'ns' }, '-1', rejects(/to epoch/)],
    ['epoch ns a microsecond less a nanosecond before 1970', { type: 'epoch', format: 'ns' }, '-999', rejects(/to epoch/)],
    ['epoch us a fraction before 1970', { type: 'epoch', format: 'us' }, '-0.4', rejects(/to epoch/)],
    ['epoch s a fraction of a microsecond before 1970', { type: 'epoch', format: 's' }, '-0.0000004', rejects(/to epoch/)],
    ['epoch s a decimal is rounded to the microsecond, then truncated', { type: 'epoch', format: 's', resolution: 'ms' }, '1700000000.1239996', '2023-11-14T22:13:20.124Z'],
    ['epoch s a microsecond a double cannot hold exactly', { type: 'epoch', format: 's', resolution: 'ms' }, '1.001', '1970-01-01T00:00:01.001Z'],
    // A zoned value out of TIMESTAMP_NS's range (1677-2262) once failed the whole statement.
    ['datetime with a zone, year 9999', { type: 'datetime', format: '2006-01-02T15:04:05Z07:00' }, '9999-01-01T00:00:00+01:00', rejects(/to datetime/)],
    ['datetime64 with a zone, year 1600', { type: 'datetime64', format: '2006-01-02T15:04:05Z07:00' }, '1600-01-01T00:00:00-05:00', rejects(/to datetime64/)],
    ['datetime64 with a zone, year 2270', { type: 'datetime64', format: '2006-01-02T15:04:05Z07:00' }, '2270-01-01T00:00:00-05:00', '2270-01-01T05:00:00.000Z'],
    ['datetime64 with nanoseconds, year 2270', { type: 'datetime64', format: '2006-01-02T15:04:05.999999999Z07:00' }, '2270-01-01T00:00:00.5Z', '2270-01-01T00:00:00.500Z'],
    ['array of int32 (JSON text in CSV)', { type: 'array', elements: [{ type: 'int32' }] }, '"[1,2,3]"', [1, 2, 3]],
    ['array with a bad element', { type: 'array', elements: [{ type: 'int32' }] }, '"[1,""x""]"', rejects(/to array\(int32\)/)],
    [
      'map string to uint32',
      { type: 'map', elements: [{ type: 'string' }, { type: 'uint32' }] },
      '"{""a"":1,""b"":2}"',
      [
        { key: 'a', value: 1 },
        { key: 'b', value: 2 },
      ],
    ],
    ['map with a bad value', { type: 'map', elements: [{ type: 'string' }, { type: 'uint32' }] }, '"{""a"":-1}"', rejects(/to map\(string, uint32\)/)],
    ['default replaces an empty field', { type: 'uint32', default: '7' }, '', 7],
    ['empty without default is NULL', { type: 'uint32' }, '', null],
    ['limits.max rejects', { type: 'uint32', limits: { max: 100 } }, '150', rejects(/150 is above the limit max 100/)],
    ['limits.min with action null stores NULL', { type: 'int32', limits: { min: 0, action: 'null' } }, '-3', null],
    ['limits.past rejects old timestamps', { type: 'datetime', format: '2006-01-02', limits: { past: '30d' } }, '2024-01-01', rejects(/older than the limit past/)],
    ['limits.future keeps near ones', { type: 'datetime', format: '2006-01-02', limits: { future: '1d' } }, '2024-06-01', '2024-06-01T00:00:00.000Z'],
  ];
  for (const [label, datatype, field, expected] of cases) {
    test(label, async () => check(await csvValue(datatype, field), expected, label));
  }

  test('null_values turn "-" into NULL, and then into the default', async () => {
    assert.equal(await csvValue({ type: 'string' }, '-', { null_values: ['-'] }), null);
    assert.equal(await csvValue({ type: 'uint32', default: '0' }, '-', { null_values: ['-'] }), 0);
  });
});

describe('golden cases: JSON sources', () => {
  const cases: [string, Record<string, unknown>, unknown, unknown][] = [
    ['number to uint32', { type: 'uint32' }, 200, 200],
    ['native boolean', { type: 'boolean' }, false, 0],
    ['native array', { type: 'array', elements: [{ type: 'string' }] }, ['a', 'b'], ['a', 'b']],
    ['native object to map', { type: 'map', elements: [{ type: 'string' }, { type: 'string' }] }, { k: 'v' }, [{ key: 'k', value: 'v' }]],
    ['nested object as string keeps its JSON', { type: 'string' }, { a: 1 }, '{"a":1}'],
    ['epoch from a number', { type: 'epoch', format: 'ms', resolution: 'ms' }, 1700000000123, '2023-11-14T22:13:20.123Z'],
    ['null is NULL', { type: 'string' }, null, null],
  ];
  for (const [label, datatype, value, expected] of cases) {
    test(label, async () => check(await jsonValue(datatype, value), expected, label));
  }

  const ts = { name: 'ts', datatype: { type: 'epoch', primary: true, format: 's' } };
  test('from_input_fields takes the first field present; from_json_pointers reads nested values (RFC 6901)', async () => {
    const settings = {
      output_columns: [
        ts,
        { name: 'ip', datatype: { type: 'string', source: { from_input_fields: ['client_ip', 'ip'] } } },
        { name: 'user', datatype: { type: 'string', source: { from_json_pointers: ['/user/name', '/user~1name'] } } },
        { name: 'second', datatype: { type: 'uint32', source: { from_json_pointers: ['/list/1'] } } },
      ],
    };
    const [records] = await run('json', settings, '{"ts":1,"ip":"10.0.0.1","user":{"name":"ann"},"list":[5,6]}\n{"ts":2,"client_ip":"10.0.0.2","user/name":"bob"}\n');
    assert.deepEqual(
      records!.map((r) => ('output' in r ? r.output : r)),
      [
        { ts: '1970-01-01T00:00:01.000Z', ip: '10.0.0.1', user: 'ann', second: 6 },
        { ts: '1970-01-01T00:00:02.000Z', ip: '10.0.0.2', user: 'bob', second: null },
      ],
    );
  });

  test('flattening: dotted names with [i] read nested data, and depth stops it', async () => {
    const flattening = { active: true, map_flattening_strategy: { left: '.', right: '' }, slice_flattening_strategy: { left: '[', right: ']' } };
    const record = '{"ts":1,"employees":{"departments":["eng","ops"],"boss":{"name":"z"}},"user.agent":"curl"}\n';
    const columns = [ts, { name: 'employees.departments[1]', datatype: { type: 'string' } }, { name: 'employees.boss.name', datatype: { type: 'string' } }, { name: 'user.agent', datatype: { type: 'string' } }];
    const [[all]] = (await run('json', { format_details: { flattening }, output_columns: columns }, record)) as [[RecordOutcome]];
    assert.deepEqual('output' in all && all.output, { ts: '1970-01-01T00:00:01.000Z', 'employees.departments[1]': 'ops', 'employees.boss.name': 'z', 'user.agent': 'curl' });
    const [[shallow]] = (await run('json', { format_details: { flattening: { ...flattening, depth: 1 } }, output_columns: [ts, { name: 'employees.boss', datatype: { type: 'string' } }] }, record)) as [[RecordOutcome]];
    assert.deepEqual('output' in shallow && shallow.output['employees.boss'], '{"name":"z"}');
  });

  test('catch_all keeps the fields no column reads', async () => {
    const settings = { output_columns: [ts, { name: 'a', datatype: { type: 'string' } }, { name: 'rest', datatype: { type: 'map', catch_all: true, elements: [{ type: 'string' }, { type: 'string' }] } }] };
    const [records] = await run('json', settings, '{"ts":1,"a":"x","b":2,"c":{"d":true}}\n{"ts":2,"a":"y"}\n');
    assert.deepEqual(
      records!.map((r) => 'output' in r && r.output.rest),
      [
        [
          { key: 'b', value: '2' },
          { key: 'c', value: '{"d":true}' },
        ],
        null,
      ],
    );
  });

  test('one JSON array per file, concatenated and pretty-printed documents, a BOM, CRLF and no final newline', async () => {
    const settings = { output_columns: [ts, { name: 'a', datatype: { type: 'uint8' } }] };
    const outcomes = await run('json', settings, '[{"ts":1,"a":1},{"ts":2,"a":300},\n{"ts":3,"a":3}]', '{"ts":1,"a":1}{"ts":2,"a":2}\n{\n  "ts": 3,\n  "a": 3\n}\n', '\uFEFF{"ts":1,"a":1}\r\n{"ts":2,"a":2}', '');
    const summary = outcomes.map((records) => records.map((r) => ('output' in r ? r.output.a : `#${r.record} ${r.rejected}`)));
    assert.deepEqual(summary.slice(0, 1), [[1, '#2 column "a": cannot convert \'300\' to uint8', 3]]);
    assert.deepEqual(summary.slice(1), [[1, 2, 3], [1, 2], []]);
  });

  test('a line that is not an object is rejected with a reason; blank lines are not records', async () => {
    const [records] = await run('json', { output_columns: [ts] }, '{"ts":1}\n\nnot json\n \t \n[1]\n\t\n{"ts":2}\n');
    assert.deepEqual(
      records!.map((r) => ('output' in r ? 'ok' : r.rejected.slice(0, 30))),
      ['ok', 'record is not valid JSON: not ', 'record is JSON but not an obje', 'ok'],
    );
    // A broken first record once made the file read as documents, and fail whole.
    const [broken] = await run('json', { output_columns: [ts] }, '{"ts": 1, broken\n{"ts":2}\n{"ts":3}\n');
    assert.deepEqual(
      broken!.map((r) => ('output' in r ? 'ok' : r.rejected.slice(0, 24))),
      ['record is not valid JSON', 'ok', 'ok'],
    );
  });

  test('lines ending in "\\n" and "\\r\\n" in one file load whole, each record on its line; a lone "\\r" is whitespace', async () => {
    const settings = { output_columns: [ts, { name: 'a', datatype: { type: 'uint8' } }] };
    // The reader takes the first line's ending for the file and failed the whole file on the other.
    const [mixed, crFirst, lone] = await run(
      'json',
      settings,
      '{"ts":1,"a":1}\n{"ts":2,"a":2}\r\n{"ts":3,"a":300}\n{"ts":4,"a":4}\r\n',
      '{"ts":1,"a":1}\r\n{"ts":2,"a":2}\n{"ts":3,"a":3}',
      '{"ts":1,\r"a":1}\n{"ts":2,"a":2}\r\n',
    );
    const summary = (records: RecordOutcome[]) => records.map((r) => ('output' in r ? r.output.a : `#${r.record} ${r.rejected.slice(0, 10)}`));
    assert.deepEqual(summary(mixed!), [1, 2, '#3 column "a"', 4]);
    assert.deepEqual(summary(crFirst!), [1, 2, 3]);
    assert.deepEqual(summary(lone!), [1, 2]);
  });
});

describe('golden cases: CSV format_details', () => {
  test('tab delimiter as "\\t" and as ASCII 9, header skipped per file, comments, CRLF, BOM, no final newline', async () => {
    const columns = [
      { name: 'ts', position: 0, datatype: { type: 'datetime', primary: true, format: '2006-01-02 15:04:05' } },
      { name: 'v', datatype: { type: 'string', source: { from_input_index: 2 } } },
    ];
    for (const delimiter of ['\\t', 9]) {
      const settings = { format_details: { delimiter, skip_head: 1, skip_comments: true, comment: '#' }, output_columns: columns };
      const outcomes = await run('csv', settings, '\uFEFFts\tx\tv\r\n# a comment\r\n2024-01-01 00:00:00\t1\ta\r\n2024-01-01 00:00:01\t2\tb', 'ts\tx\tv\n2024-01-01 00:00:02\t3\tc\n');
      assert.deepEqual(
        outcomes.map((rs) => rs.map((r) => 'output' in r && r.output.v)),
        [['a', 'b'], ['c']],
      );
    }
  });

  test('lines ending in "\\n" and "\\r\\n" in one file load whole; a lone "\\r" in a quoted field fails with the fix', async () => {
    const settings = { output_columns: [TS, { name: 'v', datatype: { type: 'string', source: { from_input_index: 1 } } }] };
    const outcomes = await run('csv', settings, '2024-01-01 00:00:00,a\n2024-01-01 00:00:01,b\r\n2024-01-01 00:00:02,c\n');
    assert.deepEqual(
      outcomes[0]!.map((r) => 'output' in r && r.output.v),
      ['a', 'b', 'c'],
    );
    await assert.rejects(run('csv', settings, '2024-01-01 00:00:00,"a\rb"\n2024-01-01 00:00:01,c\r\n'), /carriage return .*not followed by a newline/);
  });

  test('a custom quote and escape', async () => {
    const settings = { format_details: { delimiter: ';', quote: "'", escape: '\\' }, output_columns: [TS, { name: 'v', datatype: { type: 'string', source: { from_input_index: 1 } } }] };
    const [[r]] = (await run('csv', settings, "2024-01-01 00:00:00;'it\\'s; here'\n")) as [[RecordOutcome]];
    assert.deepEqual('output' in r && r.output.v, "it's; here");
  });
});

describe('sql_transform', () => {
  const settings = (sql: string) => ({ sql_transform: sql, output_columns: [TS, { name: 'n', datatype: { type: 'int32', source: { from_input_index: 1 } } }] });
  test('derives values with DuckDB SQL over {STREAM}', async () => {
    const [records] = await run('csv', settings('SELECT * REPLACE (-n AS n) FROM {STREAM}'), '2024-01-01 00:00:00,5\n2024-01-01 00:00:01,x\n');
    assert.deepEqual(
      records!.map((r) => ('output' in r ? r.output.n : r.rejected)),
      [-5, 'column "n": cannot convert \'x\' to int32'],
    );
  });
  test('rows it filters out are counted as rejected', async () => {
    const transform = await checkSqlTransform(validateTransform('csv', settings('SELECT * FROM {STREAM} WHERE n > 1')).transform);
    const file = path.join(dir, 'sql-filter');
    writeFileSync(file, '2024-01-01 00:00:00,1\n2024-01-01 00:00:01,2\n');
    const preview = await withConnection(engine, undefined, (c) => previewFiles(c, transform, [file], NOW));
    assert.deepEqual(
      preview.records[0]!.map((r) => ('output' in r ? r.output.n : r.rejected)),
      ['dropped by sql_transform', 2],
    );
    assert.deepEqual({ ...preview.accounts[0], rejects: undefined }, { rowsRead: 2, rowsWritten: 1, rowsRejected: 1, rejects: undefined });
  });
});
