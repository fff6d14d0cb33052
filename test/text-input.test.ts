import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIALECTS, freshCatalog } from './helpers/catalogs.js';
import { CSV_TRANSFORM } from './helpers/data.js';
import { ADMIN, ApiClient, createWebsiteEvents, startInlet } from './helpers/inlet.js';

// PostgreSQL's text refuses NUL: on that catalog any name holding one was a 500, the login's included.
for (const dialect of DIALECTS) {
  test(`${dialect}: strings that are not text (a NUL, an unpaired surrogate) are a 400 naming the field, wherever they come in`, async () => {
    const fresh = await freshCatalog(dialect);
    // The schema goes whatever happens below: a server that fails to start or to stop included.
    await fresh.catalog
      .close()
      .then(() => checkTextInput(fresh.url))
      .finally(() => fresh.drop());
  });
}

/** The checks, on a server over the catalog at `databaseUrl`. */
async function checkTextInput(databaseUrl: string): Promise<void> {
  const server = await startInlet({ workers: '0', databaseUrl });
  try {
    const { api } = server;
    const projects = `/config/v1/orgs/${api.orgId}/projects/`;
    const refused = async (answer: Promise<{ status: number; text: string }>, message: RegExp) => {
      const { status, text } = await answer;
      assert.equal(status, 400, text);
      assert.match(text, message);
    };
    const anonymous = new ApiClient(api.url);
    await refused(anonymous.request('POST', '/config/v1/login', { username: 'a\u0000b', password: 'x' }), /username is \\"a\\\\u0000b\\": it holds a NUL byte/);
    await refused(api.request('POST', projects, { name: 'a\u0000b' }), /name is .*it holds a NUL byte/);
    await refused(api.request('POST', projects, { name: 'fine', description: 'z\ud800' }), /description is .*it holds an unpaired UTF-16 surrogate/);
    await refused(api.request('POST', projects, { name: 'fine', settings: { ['k\u0000']: 1 } }), /the key .* in settings holds a NUL byte/);
    await refused(api.request('GET', `${projects}a%00b/`), /path parameter project is .*NUL byte/);
    await refused(api.request('GET', `/config/v1/orgs/${api.orgId}/jobs/batch/?page=a%00b`), /query parameter page is .*NUL byte/);
    // A paired surrogate (an emoji) is text.
    assert.equal((await api.request('POST', projects, { name: 'emoji \u{1F600}' })).status, 201);

    // Basic auth on the query API: a user that is not text names no user.
    const basic = `Basic ${Buffer.from(`a\u0000b:${ADMIN.password}`).toString('base64')}`;
    const query = await fetch(`${api.url}/query`, { method: 'POST', headers: { authorization: basic }, body: 'SELECT 1' });
    assert.equal(query.status, 401, await query.text());

    // Sample records for /validator are data, not names: any text goes through.
    await createWebsiteEvents(api, [CSV_TRANSFORM]);
    const validated = await api.request(
      'POST',
      '/validator',
      { transform: CSV_TRANSFORM.name, data: 'timestamp,host,status,bytes,latency,cached\n2024-01-01 00:00:00,a\u0000b,200,1,1,true\n' },
      { 'x-hdx-table': 'website.events' },
    );
    assert.equal(validated.status, 200, validated.text);
    await refused(api.request('POST', '/validator', { data: 'x', transform: 'a\u0000b' }, { 'x-hdx-table': 'website.events' }), /transform is .*NUL/);
  } finally {
    await server.stop();
  }
}
