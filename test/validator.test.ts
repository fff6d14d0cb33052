import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CSV_TRANSFORM, JSON_TRANSFORM } from './helpers/data.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';

let inlet: TestInlet;
let transformsUrl: string;
const HEADERS = { 'x-hdx-table': 'website.events', 'x-hdx-test': 'true' };

before(async () => {
  inlet = await startInlet();
  const { projectId, tableId } = await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
  transformsUrl = `/config/v1/orgs/${inlet.api.orgId}/projects/${projectId}/tables/${tableId}/transforms/`;
});
after(async () => inlet?.stop());

describe('POST /validator', () => {
  test('answers each JSON record with its converted row or the reason it is rejected', async () => {
    const data = [{ ts: 1704067200000, host: 'a.example.com', status: 200, bytes: 10, latency: 0.5, cached: true }, { ts: 1704067201000, host: 'b.example.com', status: -1 }, { host: 'no time' }];
    const response = await inlet.api.request('POST', '/validator', { transform: { type: 'json', settings: JSON_TRANSFORM.settings }, data }, HEADERS);
    assert.equal(response.status, 200, response.text);
    assert.equal(response.body.code, 200);
    assert.equal(response.body.table, 'website.events');
    assert.deepEqual(response.body.rows, { read: 3, written: 1, rejected: 2 });
    assert.deepEqual(response.body.results, [
      { record: 1, output: { timestamp: '2024-01-01T00:00:00.000Z', host: 'a.example.com', status: 200, bytes: '10', latency: 0.5, cached: 1 } },
      { record: 2, rejected: `column "status": cannot convert '-1' to uint32` },
      { record: 3, rejected: 'column "timestamp": the primary timestamp is missing' },
    ]);
    assert.deepEqual(
      response.body.rejects.map((r: { line: number; column: string }) => [r.line, r.column]),
      [
        [2, 'status'],
        [3, 'timestamp'],
      ],
    );
  });

  test('CSV lines as strings, with the transform type given', async () => {
    const data = ['timestamp,host,status,bytes,latency,cached', '2024-01-01 00:00:00,a,200,1,0.1,false', 'bad,a,200,1,0.1,false'];
    const response = await inlet.api.request('POST', '/validator', { transform: { type: 'csv', settings: CSV_TRANSFORM.settings }, data }, HEADERS);
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(
      response.body.results.map((r: { output?: { host: string }; rejected?: string }) => r.output?.host ?? r.rejected),
      ['a', `column "timestamp": cannot convert 'bad' to datetime (format 2006-01-02 15:04:05)`],
    );
  });

  test('sql_transform runs as in a job', async () => {
    const settings = { ...CSV_TRANSFORM.settings, format_details: { delimiter: ',' }, sql_transform: 'SELECT * REPLACE (upper(host) AS host) FROM {STREAM}' };
    const response = await inlet.api.request('POST', '/validator', { transform: { type: 'csv', settings }, data: ['2024-01-01 00:00:00,abc,200,1,0.1,false'] }, HEADERS);
    assert.equal(response.status, 200, response.text);
    assert.equal(response.body.results[0].output.host, 'ABC');
  });

  test('a transform saved on the table, by name or id (in the body or the x-hdx-transform header)', async () => {
    const data = ['timestamp,host,status,bytes,latency,cached', '2024-01-01 00:00:00,a,200,1,0.1,false'];
    const hosts = (r: { body: { results: { output: { host: string } }[] } }) => r.body.results.map((x) => x.output.host);
    const byName = await inlet.api.request('POST', '/validator', { transform: CSV_TRANSFORM.name, data }, HEADERS);
    assert.equal(byName.status, 200, byName.text);
    assert.deepEqual(hosts(byName), ['a']);
    const listed = await inlet.api.request('GET', `${transformsUrl}`);
    const id = listed.body.find((t: { name: string }) => t.name === CSV_TRANSFORM.name).uuid;
    const byId = await inlet.api.request('POST', '/validator', { transform: id, data }, HEADERS);
    assert.equal(byId.status, 200, byId.text);
    assert.deepEqual(hosts(byId), ['a']);
    const byHeader = await inlet.api.request('POST', '/validator', { data }, { ...HEADERS, 'x-hdx-transform': CSV_TRANSFORM.name });
    assert.equal(byHeader.status, 200, byHeader.text);
    assert.deepEqual(hosts(byHeader), ['a']);

    const unknown = await inlet.api.request('POST', '/validator', { transform: 'nope', data }, HEADERS);
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.detail, /transform "nope" not found in table "website\.events"/);
    const wrong = await inlet.api.request('POST', '/validator', { transform: 42, data }, HEADERS);
    assert.equal(wrong.status, 400);
    assert.match(wrong.body.detail, /^transform is 42: send the transform inline/);
  });

  test('a saved transform edited between two calls is validated as it is now', async () => {
    const settings = { ...CSV_TRANSFORM.settings, is_default: false };
    const created = await inlet.api.request('POST', transformsUrl, { name: 'edited', type: 'csv', settings });
    assert.equal(created.status, 201, created.text);
    const data = ['timestamp,host,status,bytes,latency,cached', '2024-01-01 00:00:00,a,200,1,0.1,false'];
    const before = await inlet.api.request('POST', '/validator', { transform: 'edited', data }, HEADERS);
    assert.equal(before.status, 200, before.text);
    assert.equal(before.body.results[0].output.host, 'a');
    const upper = { ...settings, sql_transform: 'SELECT * REPLACE (upper(host) AS host) FROM {STREAM}' };
    const patched = await inlet.api.request('PATCH', `${transformsUrl}${created.body.uuid}`, { settings: upper });
    assert.equal(patched.status, 200, patched.text);
    const after = await inlet.api.request('POST', '/validator', { transform: 'edited', data }, HEADERS);
    assert.equal(after.status, 200, after.text);
    assert.equal(after.body.results[0].output.host, 'A');
  });

  test('a bad transform is a 400 naming the column; a missing table a 404; no token a 401', async () => {
    const bad = { transform: { type: 'csv', settings: { output_columns: [{ name: 'ts', datatype: { type: 'datetime', primary: true, source: { from_input_index: 0 } } }] } }, data: ['x'] };
    const invalid = await inlet.api.request('POST', '/validator', bad, HEADERS);
    assert.equal(invalid.status, 400);
    assert.match(invalid.body.detail, /\("ts"\)\.datatype\.format is missing/);
    const missing = await inlet.api.request('POST', '/validator', { transform: { type: 'json', settings: JSON_TRANSFORM.settings }, data: [] }, { ...HEADERS, 'x-hdx-table': 'website.nope' });
    assert.equal(missing.status, 404);
    const noHeader = await inlet.api.request('POST', '/validator', { transform: { type: 'json', settings: JSON_TRANSFORM.settings }, data: [] });
    assert.equal(noHeader.status, 400);
    assert.match(noHeader.body.detail, /x-hdx-table/);
    const token = inlet.api.token;
    inlet.api.token = undefined;
    const anonymous = await inlet.api.request('POST', '/validator', { transform: { settings: JSON_TRANSFORM.settings }, data: [] }, HEADERS);
    inlet.api.token = token;
    assert.equal(anonymous.status, 401);
  });

  test('a sample whose sql_transform runs past INLET_VALIDATOR_TIMEOUT_SECONDS is stopped with a 422 naming the limit, and the API answers meanwhile', async () => {
    // A subquery correlated twice over 3,000 records: billions of comparisons, hours of the API's CPU.
    const limited = await startInlet({ validatorTimeoutSeconds: '1' });
    try {
      await createWebsiteEvents(limited.api, [CSV_TRANSFORM]);
      const data = Array.from({ length: 3_000 }, (_, i) => ({ ts: 1704067200000 + i, host: `h${i}`, status: 200, bytes: i }));
      const sql_transform = 'SELECT * FROM {STREAM} t WHERE (SELECT count(*) FROM {STREAM} s WHERE (SELECT count(*) FROM {STREAM} u WHERE u.bytes < s.bytes + t.bytes) > 0) >= 0';
      const slow = limited.api.request('POST', '/validator', { transform: { type: 'json', settings: { ...JSON_TRANSFORM.settings, sql_transform } }, data }, HEADERS);
      const meanwhile = await limited.api.request('GET', `/config/v1/orgs/${limited.api.orgId}/projects/`);
      assert.equal(meanwhile.status, 200);
      const response = await slow;
      assert.equal(response.status, 422, response.text);
      assert.match(response.body.detail, /stopped converting the sample after 1 s \(INLET_VALIDATOR_TIMEOUT_SECONDS\): send fewer records, or make settings.sql_transform cheaper/);
      // The sample as one string of text is held to the same 10,000 records.
      const text = Array.from({ length: 10_002 }, (_, i) => JSON.stringify({ ts: 1704067200000 + i })).join('\n') + '\n';
      const long = await limited.api.request('POST', '/validator', { transform: { type: 'json', settings: JSON_TRANSFORM.settings }, data: text }, HEADERS);
      assert.equal(long.status, 400, long.text);
      assert.match(long.body.detail, /data has more than 10001 lines: the validator takes at most 10000 records/);
      const justSo = await limited.api.request('POST', '/validator', { transform: { type: 'json', settings: JSON_TRANSFORM.settings }, data: text.split('\n').slice(0, 10_000).join('\n') }, HEADERS);
      assert.equal(justSo.status, 200, justSo.text);
      assert.equal(justSo.body.rows.read, 10_000);
    } finally {
      await limited.stop();
    }
  });
});
