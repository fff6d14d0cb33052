import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TRANSFORM_LIMITS } from '../src/transform/model.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';

let inlet: TestInlet;
let files: string;
let transformsUrl: string;
const jobs = () => `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`;

before(async () => {
  files = mkdtempSync(path.join(tmpdir(), 'inlet-limits-'));
  // The smallest memory a worker slot gets: a transform at the limits must convert within it.
  inlet = await startInlet({ fileRoots: files, workers: '1', duckdbMemoryLimit: '256MB' });
  const { projectId, tableId } = await createWebsiteEvents(inlet.api, []);
  transformsUrl = `/config/v1/orgs/${inlet.api.orgId}/projects/${projectId}/tables/${tableId}/transforms`;
});
after(async () => {
  await inlet?.stop();
  rmSync(files, { recursive: true, force: true });
});

const TYPES = [{ type: 'string' }, { type: 'uint32' }, { type: 'int64' }, { type: 'double' }, { type: 'boolean' }, { type: 'epoch', format: 's' }, { type: 'datetime', format: '2006-01-02 15:04:05' }];
const VALUES = ['text', '42', '-7', '1.5', 'true', '1704067200', '2024-01-01 00:00:00'];

/** A CSV transform of `count` columns: the primary timestamp, then every type in turn. */
function wideTransform(name: string, count: number) {
  const columns = [{ name: 'ts', datatype: { type: 'datetime', primary: true, format: '2006-01-02 15:04:05', source: { from_input_index: 0 } } }];
  for (let i = 1; i < count; i++) columns.push({ name: `c${i}`, datatype: { ...TYPES[i % TYPES.length]!, source: { from_input_index: i } } as never });
  return { name, type: 'csv', settings: { output_columns: columns } };
}

describe('transform size limits', () => {
  test('a 10,000-column transform is refused at save time, naming the limit', async () => {
    const started = Date.now();
    const response = await inlet.api.request('POST', transformsUrl, wideTransform('huge', 10_000));
    assert.equal(response.status, 400, response.text.slice(0, 300));
    assert.match(response.body.detail, new RegExp(`settings\\.output_columns has 10000 columns: a transform has at most ${TRANSFORM_LIMITS.columns}`));
    // Refused before any per-column work: generous, on a loaded machine.
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  });

  test('a transform at the column limit converts a 20-row file in a 256 MB slot', async () => {
    const count = TRANSFORM_LIMITS.columns;
    const saved = await inlet.api.request('POST', transformsUrl, wideTransform('widest', count));
    assert.equal(saved.status, 201, saved.text.slice(0, 300));
    const rows = Array.from({ length: 20 }, (_, r) => [`2024-01-01 00:00:${String(r).padStart(2, '0')}`, ...Array.from({ length: count - 1 }, (_, i) => VALUES[(i + 1) % VALUES.length])].join(','));
    writeFileSync(path.join(files, 'wide.csv'), rows.join('\n') + '\n');
    const created = await inlet.api.request('POST', jobs(), {
      name: 'wide',
      settings: { source: { table: 'website.events', transform: 'widest', settings: { url: `file://${files}/wide.csv` } } },
    });
    assert.equal(created.status, 200, created.text);
    // Generous, for a loaded machine: what it guards against is planning that grows with the square of the columns.
    const done = await inlet.api.waitForJob(created.body.uuid, undefined, 120_000);
    assert.equal(done.status, 'done', JSON.stringify(done.details));
    assert.deepEqual(done.details.rows, { read: 20, written: 20, rejected: 0 });
    const query = await inlet.api.query(`SELECT c1, c2, c6, c${count - 1} FROM website.events ORDER BY ts LIMIT 1`);
    assert.equal(query.text, `42\t-7\t2024-01-01 00:00:00\t${VALUES[(count - 1) % VALUES.length]}\n`);
  });
});

describe('transform settings that would fail every job are refused at save time', () => {
  const base = wideTransform('bad', 3);
  const withColumn = (column: object) => ({ ...base, settings: { output_columns: [...base.settings.output_columns, column] } });
  const csvWith = (format_details: object) => ({ ...base, settings: { ...base.settings, format_details } });
  const cases: [string, object, RegExp][] = [
    ['skip_head too large', csvWith({ skip_head: 1e20 }), /^settings\.format_details\.skip_head is 100000000000000000000: use a whole number of lines from 0 to 1000000$/],
    ['skip_head not whole', csvWith({ skip_head: 1.5 }), /^settings\.format_details\.skip_head is 1\.5: use a whole number/],
    ['a huge value is quoted cut short', csvWith({ delimiter: 'x'.repeat(100_000) }), /^settings\.format_details\.delimiter is "x{199}\.\.\.: use a one-byte string/],
    ['buffer_size negative', csvWith({ buffer_size: -1 }), /^settings\.format_details\.buffer_size is -1: use a whole number of bytes/],
    ['a column named rowid', withColumn({ name: 'rowid', datatype: { type: 'string', source: { from_input_index: 3 } } }), /\.name "rowid" is a name DuckDB reserves for its row numbers: rename it/],
    ['ROWID in capitals', withColumn({ name: 'ROWID', datatype: { type: 'string', source: { from_input_index: 3 } } }), /\.name "ROWID" is a name DuckDB reserves/],
    ['an __inlet name in another case', withColumn({ name: '__Inlet_file', datatype: { type: 'string', source: { from_input_index: 3 } } }), /\.name "__Inlet_file" starts with "__inlet"/],
    ['names differing only in case', withColumn({ name: 'C1', datatype: { type: 'string', source: { from_input_index: 3 } } }), /columns "c1" and "C1", which differ only in case: column names are case-insensitive/],
    ['an empty name', withColumn({ name: ' ', datatype: { type: 'string', source: { from_input_index: 3 } } }), /output_columns\[3\]\.name is " ": give the column a non-empty name/],
    ['an over-long name', withColumn({ name: 'x'.repeat(300), datatype: { type: 'string', source: { from_input_index: 3 } } }), /is 300 characters long: use at most 255/],
    ['a control character in a name', withColumn({ name: 'a\nb', datatype: { type: 'string', source: { from_input_index: 3 } } }), /contains a control character/],
    ['a huge field index', withColumn({ name: 'far', datatype: { type: 'string', source: { from_input_index: 1e20 } } }), /from_input_index is 100000000000000000000: .* from 0 to 9999/],
    [
      'a limit past the range of dates',
      withColumn({ name: 'old', datatype: { type: 'epoch', format: 's', limits: { past: '99999999999d' }, source: { from_input_index: 3 } } }),
      /limits\.past is "99999999999d": use at most 36500d/,
    ],
    ['an unknown column key', withColumn({ name: 'x', datatype: { type: 'string', source: { from_input_index: 3 } }, postion: 3 }), /output_columns\[3\]\.postion is not a known setting: did you mean "position"\?/],
  ];
  for (const [what, body, detail] of cases) {
    test(what, async () => {
      const response = await inlet.api.request('POST', transformsUrl, body);
      assert.equal(response.status, 400, response.text);
      assert.match(response.body.detail, detail);
    });
  }

  test('JSON sources are bounded: pointer length, alternatives, flattening depth', async () => {
    const json = (column: object, format_details: object = {}) => ({
      name: 'j',
      type: 'json',
      settings: { format_details, output_columns: [{ name: 'ts', datatype: { type: 'epoch', format: 's', primary: true } }, column] },
    });
    const cases: [object, RegExp][] = [
      [json({ name: 'p', datatype: { type: 'string', source: { from_json_pointers: ['/' + 'a'.repeat(2000)] } } }), /from_json_pointers has a name or pointer of 2001 characters: use at most 1024/],
      [json({ name: 'p', datatype: { type: 'string', source: { from_input_fields: Array.from({ length: 40 }, (_, i) => `f${i}`) } } }), /from_input_fields has 40 entries: use at most 32/],
      [json({ name: 'p', datatype: { type: 'string' } }, { flattening: { active: true, depth: 1e20 } }), /flattening\.depth is 100000000000000000000: use a whole number of levels from 1 to 100/],
      [json({ name: 'p', datatype: { type: 'string' } }, { flatening: { active: true } }), /^settings\.format_details\.flatening is not a known setting: did you mean "flattening"\?/],
    ];
    for (const [body, detail] of cases) {
      const response = await inlet.api.request('POST', transformsUrl, body);
      assert.equal(response.status, 400, response.text);
      assert.match(response.body.detail, detail);
    }
  });
});

describe('request bodies', () => {
  test('a body nested 5,000 deep is a 400, on every route, and the server stays up', async () => {
    const deepObject = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
    const deepArray = '['.repeat(5000) + ']'.repeat(5000);
    const projects = `/config/v1/orgs/${inlet.api.orgId}/projects`;
    for (const [route, body] of [
      [projects, `{"name": "deep", "settings": ${deepObject}}`],
      [projects, `{"name": "deep", "description": ${deepArray}}`],
      [transformsUrl, `{"name": "deep", "type": "csv", "settings": ${deepObject}}`],
      [jobs(), `{"name": "deep", "settings": ${deepObject}}`],
      ['/config/v1/login', `{"username": "a", "password": ${deepObject}}`],
    ] as const) {
      const response = await inlet.api.request('POST', route, body, { 'content-type': 'application/json' });
      assert.equal(response.status, 400, `${route}: ${response.text}`);
      assert.match(response.body.detail, /the JSON body nests arrays and objects more than 100 levels deep/);
    }
    // Brackets inside strings are text, not nesting.
    const text = await inlet.api.request('POST', projects, { name: 'brackets', description: '['.repeat(4000) });
    assert.equal(text.status, 201, text.text);
    assert.equal((await inlet.api.request('GET', projects)).status, 200);
  });

  test('a body over 16 MiB is a 413 naming the limit', async () => {
    const response = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/projects`, { name: 'big', description: 'x'.repeat(17 * 1024 * 1024) });
    assert.equal(response.status, 413);
    assert.match(response.body.detail, /larger than 16777216 bytes \(16 MiB\)/);
  });
});

describe('unknown settings are refused, naming the nearest known key', () => {
  const job = (settings: Record<string, unknown>, source: Record<string, unknown> = {}, sourceSettings: Record<string, unknown> = {}) => ({
    name: `job-${Math.random()}`,
    type: 'batch_import',
    settings: { ...settings, source: { table: 'website.events', transform: 'widest', type: 'batch', subtype: 'aws s3', ...source, settings: { url: `file://${files}/`, ...sourceSettings } } },
  });

  test('in a job body, its settings, source and source settings', async () => {
    const cases: [object, RegExp][] = [
      [job({ max_file: 3 }), /^settings\.max_file is not a known setting: did you mean "max_files"\?/],
      [job({}, { transfrom: 'widest' }), /^settings\.source\.transfrom is not a known setting: did you mean "transform"\?/],
      [job({}, {}, { ulr: 'x' }), /^settings\.source\.settings\.ulr is not a known setting: did you mean "url"\?/],
      [{ ...job({}), descripton: 'x' }, /^descripton is not a known setting: did you mean "description"\?/],
    ];
    for (const [body, detail] of cases) {
      const response = await inlet.api.request('POST', jobs(), body);
      assert.equal(response.status, 400, response.text);
      assert.match(response.body.detail, detail);
    }
    const listed = await inlet.api.request('GET', jobs());
    assert.equal(listed.body.filter((j: any) => j.name.startsWith('job-')).length, 0, 'no refused job was created');
  });

  test('in projects, tables, table settings and transforms; read-only fields sent back are accepted', async () => {
    const projects = `/config/v1/orgs/${inlet.api.orgId}/projects`;
    const badProject = await inlet.api.request('POST', projects, { name: 'p1', descripton: 'x' });
    assert.equal(badProject.status, 400);
    assert.match(badProject.body.detail, /^descripton is not a known setting: did you mean "description"\?/);

    const project = await inlet.api.request('POST', projects, { name: 'keys' });
    const tables = `${projects}/${project.body.uuid}/tables`;
    const badTable = await inlet.api.request('POST', tables, { name: 't', settings: { sort_key: ['a'] } });
    assert.equal(badTable.status, 400);
    assert.match(badTable.body.detail, /^settings\.sort_key is not a known setting: did you mean "sort_keys"\?/);
    // The table settings Hydrolix documents (hdxcli sends them) are kept as given.
    const hydrolixSettings = { stream: { hot_data_max_age_minutes: 5 }, age: { max_age_days: 180 }, merge: { enabled: true }, autoingest: [], sort_keys: [], shard_key: null };
    const table = await inlet.api.request('POST', tables, { name: 't', settings: hydrolixSettings });
    assert.equal(table.status, 201, table.text);

    const transforms = `${tables}/${table.body.uuid}/transforms`;
    const transform = wideTransform('keys', 3);
    const badTransform = await inlet.api.request('POST', transforms, { ...transform, descripton: 'x' });
    assert.equal(badTransform.status, 400);
    assert.match(badTransform.body.detail, /^descripton is not a known setting: did you mean "description"\?/);
    const created = await inlet.api.request('POST', transforms, transform);
    assert.equal(created.status, 201, created.text);

    // hdxcli updates with PUT the object it read, read-only fields included.
    for (const [url, read] of [
      [`${projects}/${project.body.uuid}`, project.body],
      [`${tables}/${table.body.uuid}`, table.body],
      [`${transforms}/${created.body.uuid}`, created.body],
    ]) {
      const put = await inlet.api.request('PUT', url, { ...read, description: 'updated' });
      assert.equal(put.status, 200, `${url}: ${put.text}`);
      assert.equal(put.body.description, 'updated');
      const patched = await inlet.api.request('PATCH', url, { descriptoin: 'x' });
      assert.equal(patched.status, 400);
    }
  });
});
