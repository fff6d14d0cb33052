import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { csvOf, CSV_TRANSFORM, logRows, referenceJob } from './helpers/data.js';
import { ADMIN, ApiClient, createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

let inlet: TestInlet;
let s3: LocalS3;
const orgs = () => `/config/v1/orgs/${inlet.api.orgId}`;

before(async () => {
  s3 = await startLocalS3();
  inlet = await startInlet({ s3Endpoint: s3.endpoint });
});
after(async () => {
  await inlet?.stop();
  await s3?.stop();
});

describe('service basics', () => {
  test('GET /version answers plain text', async () => {
    const response = await fetch(`${inlet.api.url}/version`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(await response.text(), /^inlet \d+\.\d+\.\d+\n$/);
  });

  test('login answers the reference shape', async () => {
    const response = await new ApiClient(inlet.api.url).request('POST', '/config/v1/login/', ADMIN);
    assert.equal(response.status, 200);
    assert.equal(response.body.email, ADMIN.username);
    assert.deepEqual(Object.keys(response.body.auth_token).sort(), ['access_token', 'expires_in', 'token_type']);
    assert.equal(response.body.auth_token.token_type, 'Bearer');
    assert.equal(response.body.auth_token.expires_in, 86400);
    assert.equal(response.body.orgs.length, 1);
    assert.deepEqual(Object.keys(response.body.orgs[0]).sort(), ['cloud', 'created', 'kubernetes', 'modified', 'name', 'type', 'uuid']);
  });
});

describe('authentication', () => {
  test('a wrong password, no token and a bad token are 401 with a detail', async () => {
    const anonymous = new ApiClient(inlet.api.url);
    const wrong = await anonymous.request('POST', '/config/v1/login', { username: ADMIN.username, password: 'nope' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.detail, 'wrong username or password');
    const unknown = await anonymous.request('POST', '/config/v1/login', { username: 'who@example.com', password: 'nope' });
    assert.deepEqual(unknown.body, wrong.body);

    const none = await anonymous.request('GET', '/config/v1/orgs/');
    assert.equal(none.status, 401);
    assert.match(none.body.detail, /authentication required/);
    anonymous.token = 'not-a-token';
    const bad = await anonymous.request('GET', '/config/v1/orgs/');
    assert.equal(bad.status, 401);
    assert.match(bad.body.detail, /not valid/);
    const badQuery = await anonymous.query('SELECT 1');
    assert.equal(badQuery.status, 401);
  });

  test('an expired token is 401 and says it expired', async () => {
    const shortLived = await startInlet({ tokenTtlSeconds: '1', workers: '0' });
    try {
      const ok = await shortLived.api.request('GET', '/config/v1/orgs');
      assert.equal(ok.status, 200);
      await delay(1100);
      const expired = await shortLived.api.request('GET', '/config/v1/orgs');
      assert.equal(expired.status, 401);
      assert.match(expired.body.detail, /expired/);
    } finally {
      await shortLived.stop();
    }
  });

  test('the query API also takes basic auth', async () => {
    const response = await fetch(`${inlet.api.url}/query?query=SELECT%2042`, {
      headers: { authorization: `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}` },
    });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), '42\n');
  });
});

describe('projects, tables, transforms', () => {
  test('create, list, get, update and delete a project; names are unique; unknown ids are 404', async () => {
    const api = inlet.api;
    const created = await api.request('POST', `${orgs()}/projects`, { name: 'crud', description: 'first' });
    assert.equal(created.status, 201);
    assert.match(created.body.modified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const clash = await api.request('POST', `${orgs()}/projects/`, { name: 'crud' });
    assert.equal(clash.status, 409);
    assert.match(clash.body.detail, /"crud" already exists/);
    const list = await api.request('GET', `${orgs()}/projects`);
    assert.ok(Array.isArray(list.body));
    assert.ok(list.body.some((p: any) => p.uuid === created.body.uuid));
    const patched = await api.request('PATCH', `${orgs()}/projects/${created.body.uuid}/`, { description: 'second' });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.name, 'crud');
    assert.equal(patched.body.description, 'second');
    const put = await api.request('PUT', `${orgs()}/projects/${created.body.uuid}`, { description: 'no name' });
    assert.equal(put.status, 400);
    assert.match(put.body.detail, /^name is undefined/);
    const renamed = await api.request('PUT', `${orgs()}/projects/${created.body.uuid}`, { name: 'crud2' });
    assert.equal(renamed.body.description, null);
    assert.equal((await api.request('GET', `${orgs()}/projects/${created.body.uuid}`)).body.name, 'crud2');
    assert.equal((await api.request('DELETE', `${orgs()}/projects/${created.body.uuid}`)).status, 204);
    const gone = await api.request('GET', `${orgs()}/projects/${created.body.uuid}`);
    assert.equal(gone.status, 404);
    assert.match(gone.body.detail, /not found/);
    const otherOrg = await api.request('GET', `/config/v1/orgs/00000000-0000-0000-0000-000000000000/projects`);
    assert.equal(otherOrg.status, 404);
  });

  test('names, descriptions, settings and URLs are bounded; an error quotes a long value cut short', async () => {
    const api = inlet.api;
    const long = 'x'.repeat(1_000_000);
    const refused = async (answer: Promise<{ status: number; text: string; body: any }>, message: RegExp) => {
      const { status, text, body } = await answer;
      assert.equal(status, 400, text.slice(0, 500));
      assert.match(body.detail, message);
      assert.ok(text.length < 5000, `a ${text.length}-character answer`);
    };
    await refused(api.request('POST', `${orgs()}/projects`, { name: long }), /^name is "xxx.*\.\.\.: give the project a non-empty name of at most 200 characters$/);
    await refused(api.request('POST', `${orgs()}/projects`, { name: 'bounded', description: long }), /^description is .*: give a string of at most 4096 characters, or null$/);
    await refused(api.request('POST', `${orgs()}/projects`, { name: 'bounded', settings: { long } }), /^settings is 1000011 characters of JSON: give at most 65536$/);
    await refused(
      api.request('POST', `/config/v1/orgs/${api.orgId}/storages/`, { name: 'bounded', settings: { bucket_name: 'bucket', bucket_path: long } }),
      /^settings\.bucket_path is 1000000 characters long: give at most 1024$/,
    );
    await refused(
      api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch/`, referenceJob('bounded', `s3://bucket/${long}`)),
      /^settings\.source\.settings\.url is 1000012 characters long: give a URL of at most 2048/,
    );
    await refused(api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch/`, { ...referenceJob('bounded', 's3://bucket/'), name: long }), /^name is .*: give the job a non-empty name of at most 200 characters$/);
    // A message quoting a value whole (here the table a job names) is cut short.
    const job = referenceJob('bounded', 's3://bucket/');
    await refused(api.request('POST', `/config/v1/orgs/${api.orgId}/jobs/batch/`, { ...job, settings: { ...job.settings, source: { ...job.settings.source, table: long } } }), /^settings\.source\.table is "xxx/);
    const project = await api.request('POST', `${orgs()}/projects`, { name: 'bounded' });
    assert.equal(project.status, 201, project.text);
    await refused(api.request('POST', `${orgs()}/projects/${project.body.uuid}/tables`, { name: 'events#rejects' }), /^name "events#rejects" contains "#": a table's quarantine is queried as "table#rejects"/);
    assert.equal((await api.request('DELETE', `${orgs()}/projects/${project.body.uuid}`)).status, 204);
  });

  test('transforms are validated, naming the column and field at fault', async () => {
    const api = inlet.api;
    const project = await api.request('POST', `${orgs()}/projects`, { name: 'validation' });
    const table = await api.request('POST', `${orgs()}/projects/${project.body.uuid}/tables`, { name: 't' });
    const url = `${orgs()}/projects/${project.body.uuid}/tables/${table.body.uuid}/transforms`;
    const columns = CSV_TRANSFORM.settings.output_columns;
    const cases: [object, RegExp][] = [
      [{ ...CSV_TRANSFORM, type: 'xml' }, /^type is "xml": use "csv" or "json"/],
      [{ ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, output_columns: columns.slice(1) } }, /no primary column/],
      [
        { ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, output_columns: [...columns, { name: 't2', datatype: { type: 'epoch', format: 's', primary: true, source: { from_input_index: 6 } } }] } },
        /2 primary columns \(timestamp, t2\)/,
      ],
      [
        { ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, output_columns: [...columns, { name: 'x', datatype: { type: 'int16', source: { from_input_index: 6 } } }] } },
        /output_columns\[6\] \("x"\)\.datatype\.type is "int16"/,
      ],
      [{ ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, output_columns: [...columns, { name: 'x', datatype: { type: 'datetime', source: { from_input_index: 6 } } }] } }, /\("x"\)\.datatype\.format is missing/],
      [
        { ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, output_columns: [...columns, { name: 'x', datatype: { type: 'string' } }] } },
        /\("x"\)\.datatype\.source\.from_input_index is undefined: a CSV column needs/,
      ],
      [{ ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, sql_transform: 'SELECT nope FROM {STREAM}' } }, /settings\.sql_transform does not run on the converted columns .*nope/],
      [{ ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, sql_transform: "SELECT * FROM {STREAM}, read_csv('/etc/passwd')" } }, /settings\.sql_transform joins relations/],
      [{ ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, compression: 'lz4' } }, /settings\.compression is "lz4": use one of none, gzip, zip/],
      [
        { ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, output_columns: [...columns, { name: 'x', datatype: { type: 'array', source: { from_input_index: 6 } } }] } },
        /\("x"\)\.datatype\.elements is undefined: an array column needs one element type/,
      ],
      [
        { ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, output_columns: [...columns, { name: 'x', datatype: { type: 'string', script: 'x', source: { from_input_index: 6 } } }] } },
        /\("x"\)\.datatype\.script: Inlet does not run JavaScript transforms/,
      ],
      [
        { ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, output_columns: [...columns, { name: 'x', datatype: { type: 'uint32', limits: { past: '1d' }, source: { from_input_index: 6 } } }] } },
        /\("x"\)\.datatype\.limits\.past is set on a uint32 column/,
      ],
      [{ ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, format_details: { delimiter: ';;' } } }, /format_details\.delimiter is ";;": use a one-byte string/],
      [{ ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, surprise: 1 } }, /settings\.surprise is not a known setting/],
      [{ ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, sql_transform: `SELECT *, ${'1 + '.repeat(20_000)}1 AS x FROM {STREAM}` } }, /settings\.sql_transform has 80030 characters: use at most 65536/],
      // Each seconds element reads as three formats: 30 of them would be 3^30 formats built by this process.
      [
        { ...CSV_TRANSFORM, settings: { ...CSV_TRANSFORM.settings, output_columns: [...columns, { name: 'x', datatype: { type: 'datetime', format: Array(30).fill('05').join(' '), source: { from_input_index: 6 } } }] } },
        /\("x"\)\.datatype\.format: Go layout "05 05 .*" reads as more than 64 DuckDB formats/,
      ],
    ];
    for (const [body, detail] of cases) {
      const response = await api.request('POST', url, body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.match(response.body.detail, detail);
    }
  });

  test('one default transform per table; PATCH can move it', async () => {
    const api = inlet.api;
    const project = await api.request('POST', `${orgs()}/projects`, { name: 'defaults' });
    const table = await api.request('POST', `${orgs()}/projects/${project.body.uuid}/tables`, { name: 't' });
    const url = `${orgs()}/projects/${project.body.uuid}/tables/${table.body.uuid}/transforms`;
    const first = await api.request('POST', url, { ...CSV_TRANSFORM, name: 'first' });
    const second = await api.request('POST', url, { ...CSV_TRANSFORM, name: 'second' });
    const defaults = async () => (await api.request('GET', url)).body.filter((t: any) => t.settings.is_default).map((t: any) => t.name);
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    assert.deepEqual(await defaults(), ['second']);
    const moved = await api.request('PATCH', `${url}/${first.body.uuid}`, { settings: CSV_TRANSFORM.settings });
    assert.equal(moved.status, 200, moved.text);
    // The stored flag follows the catalog, so listing shows one default.
    const rows = await inlet.service.catalog.db.selectFrom('transforms').select(['name', 'is_default']).where('table_id', '=', table.body.uuid).orderBy('name').execute();
    assert.deepEqual(rows, [
      { name: 'first', is_default: 1 },
      { name: 'second', is_default: 0 },
    ]);
    const tableView = await api.request('GET', `${orgs()}/projects/${project.body.uuid}/tables/${table.body.uuid}`);
    assert.equal(tableView.body.primary_key, 'timestamp');
  });

  test('deleting a table drops its data; a project with tables cannot be deleted', async () => {
    const api = inlet.api;
    await s3.createBucket('deletes');
    await s3.put('deletes', 'x/a.csv', csvOf(logRows(10)));
    const { projectId, tableId } = await createWebsiteEvents(api, [CSV_TRANSFORM]);
    const created = await api.request('POST', `${orgs()}/jobs/batch`, referenceJob('for delete', 's3://deletes/x/'));
    const done = await api.waitForJob(created.body.uuid);
    assert.equal(done.status, 'done');
    assert.equal((await api.query('SELECT count() FROM website.events')).text, '10\n');

    const blocked = await api.request('DELETE', `${orgs()}/projects/${projectId}`);
    assert.equal(blocked.status, 409);
    assert.match(blocked.body.detail, /still has tables \(events\): delete them first/);

    assert.equal((await api.request('DELETE', `${orgs()}/projects/${projectId}/tables/${tableId}/`)).status, 204);
    assert.equal(existsSync(path.join(inlet.dataDir, 'partitions', tableId)), false);
    const query = await api.query('SELECT count() FROM website.events');
    assert.equal(query.status, 400);
    assert.match(query.body.error, /Table website\.events doesn't exist/);
    // The job's record stays, and can be deleted on its own once finished.
    assert.equal((await api.request('GET', `${orgs()}/jobs/batch/${created.body.uuid}`)).status, 200);
    assert.equal((await api.request('DELETE', `${orgs()}/jobs/batch/${created.body.uuid}`)).status, 204);
    assert.equal((await api.request('DELETE', `${orgs()}/projects/${projectId}`)).status, 204);
  });
});
