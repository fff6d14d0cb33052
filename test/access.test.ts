import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { DIALECTS, freshCatalog } from './helpers/catalogs.js';
import { CSV_TRANSFORM, referenceJob } from './helpers/data.js';
import { ADMIN, ApiClient, createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';

let inlet: TestInlet;
let files: string;

before(async () => {
  files = mkdtempSync(path.join(tmpdir(), 'inlet-access-files-'));
  mkdirSync(path.join(files, 'logs'));
  writeFileSync(path.join(files, 'logs', 'a.csv'), 'timestamp,host,status\n2024-01-01 00:00:00,a.example.com,200\n');
  inlet = await startInlet({ workers: '1', fileRoots: files });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
});
after(async () => {
  await inlet?.stop();
  rmSync(files, { recursive: true, force: true });
});

let counter = 0;
/** A new user of the admin's org (or `org`) with the given roles, logged in. */
async function userWith(roles: string[], org?: string): Promise<ApiClient & { id: string; email: string }> {
  const email = `user${++counter}-${roles.join('-') || 'none'}@example.com`;
  const created = await inlet.api.request('POST', '/config/v1/users/', { email, roles, password: 'pw-' + email, ...(org ? { org } : {}) });
  assert.equal(created.status, 201, created.text);
  const client = new ApiClient(inlet.api.url);
  await client.login({ username: email, password: 'pw-' + email });
  return Object.assign(client, { id: created.body.uuid as string, email });
}

describe('roles', () => {
  test('/config/v1/roles/ lists the built-in roles with their permissions', async () => {
    const roles = await inlet.api.request('GET', '/config/v1/roles/');
    assert.equal(roles.status, 200, roles.text);
    const byName = new Map(roles.body.map((r: any) => [r.name, r.permissions]));
    assert.deepEqual([...byName.keys()].sort(), ['admin', 'operator', 'read_only', 'super_admin']);
    assert.ok((byName.get('read_only') as string[]).includes('query'));
    assert.ok(!(byName.get('operator') as string[]).includes('view_user'));
  });

  test('login reports the caller real roles', async () => {
    const admin = await new ApiClient(inlet.api.url).request('POST', '/config/v1/login', ADMIN);
    assert.deepEqual(admin.body.roles, ['super_admin']);
    assert.equal(admin.body.is_superuser, true);
    const reader = await userWith(['read_only']);
    const login = await new ApiClient(inlet.api.url).request('POST', '/config/v1/login', { username: reader.email, password: 'pw-' + reader.email });
    assert.deepEqual(login.body.roles, ['read_only']);
    assert.equal(login.body.is_superuser, false);
  });

  test('read_only lists, shows and queries, and gets 403 naming the permission on a write', async () => {
    const reader = await userWith(['read_only']);
    const projects = await reader.request('GET', `/config/v1/orgs/${reader.orgId}/projects/`);
    assert.equal(projects.status, 200, projects.text);
    assert.equal((await reader.query('SELECT count() FROM website.events')).status, 200);
    const write = await reader.request('POST', `/config/v1/orgs/${reader.orgId}/projects/`, { name: 'nope' });
    assert.equal(write.status, 403);
    assert.match(write.body.detail, /permission "add_project" is required/);
    const job = await reader.request('POST', `/config/v1/orgs/${reader.orgId}/jobs/batch/`, referenceJob('nope', `file://${files}/logs/`));
    assert.equal(job.status, 403);
    assert.match(job.body.detail, /"add_job"/);
  });

  test('operator runs jobs but cannot manage users', async () => {
    const operator = await userWith(['operator']);
    const job = await operator.request('POST', `/config/v1/orgs/${operator.orgId}/jobs/batch/`, referenceJob('by operator', `file://${files}/logs/`));
    assert.equal(job.status, 200, job.text);
    const users = await operator.request('GET', '/config/v1/users/');
    assert.equal(users.status, 403);
    assert.match(users.body.detail, /"view_user"/);
    assert.equal((await operator.request('POST', '/config/v1/users/', { email: 'x@example.com', roles: ['admin'] })).status, 403);
  });

  test('a role removed takes effect on a token already issued', async () => {
    const reader = await userWith(['read_only']);
    const url = `/config/v1/orgs/${reader.orgId}/projects/`;
    // Used first, so the server has the token verified and cached.
    assert.equal((await reader.request('GET', url)).status, 200);
    const removed = await inlet.api.request('POST', `/config/v1/users/${reader.id}/remove_roles/`, { roles: ['read_only'] });
    assert.equal(removed.status, 200, removed.text);
    assert.deepEqual(removed.body.roles, []);
    const denied = await reader.request('GET', url);
    assert.equal(denied.status, 403);
    const added = await inlet.api.request('POST', `/config/v1/users/${reader.id}/add_roles/`, { roles: ['read_only'] });
    assert.deepEqual(added.body.roles, ['read_only']);
    assert.equal((await reader.request('GET', url)).status, 200);
  });

  test('an admin cannot hand out super_admin, nor an unknown role', async () => {
    const admin = await userWith(['admin']);
    const grant = await admin.request('POST', `/config/v1/users/${admin.id}/add_roles/`, { roles: ['super_admin'] });
    assert.equal(grant.status, 403, grant.text);
    const unknown = await admin.request('POST', '/config/v1/users/', { email: 'u@example.com', roles: ['root'] });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.detail, /"root", which is not a role/);
    const onSuper = await admin.request('DELETE', `/config/v1/users/${(await inlet.api.request('POST', '/config/v1/login', ADMIN)).body.uuid}/`);
    assert.equal(onSuper.status, 403);
  });
});

describe('orgs and users', () => {
  test('a super admin creates an org and its admin; that admin sees only its own org', async () => {
    const org = await inlet.api.request('POST', '/config/v1/orgs/', { name: 'team-b' });
    assert.equal(org.status, 201, org.text);
    assert.equal((await inlet.api.request('POST', '/config/v1/orgs/', { name: 'team-b' })).status, 409);
    const adminB = await userWith(['admin'], org.body.uuid);
    assert.equal(adminB.orgId, org.body.uuid);
    const users = await adminB.request('GET', '/config/v1/users/');
    assert.deepEqual(
      users.body.map((u: any) => u.email),
      [adminB.email],
    );
    const adminA = (await inlet.api.request('POST', '/config/v1/login', ADMIN)).body.uuid;
    assert.equal((await adminB.request('GET', `/config/v1/users/${adminA}/`)).status, 404);
    assert.equal((await adminB.request('DELETE', `/config/v1/users/${adminA}/`)).status, 404);
    assert.equal((await adminB.request('POST', '/config/v1/users/', { email: 'c@example.com', org: inlet.api.orgId })).status, 404);
    assert.equal((await adminB.request('POST', '/config/v1/orgs/', { name: 'team-c' })).status, 403);
  });

  test('a user created without a password gets a one-time set-password link', async () => {
    const created = await inlet.api.request('POST', '/config/v1/users/', { email: 'invited@example.com', roles: ['read_only'] });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.has_password, false);
    const link = new URL(created.body.invite_url);
    const anonymous = new ApiClient(inlet.api.url);
    // No password yet: no login, whatever is tried.
    assert.equal((await anonymous.request('POST', '/config/v1/login', { username: 'invited@example.com', password: '' })).status, 401);
    const accepted = await anonymous.request('POST', link.pathname, { password: 'chosen one' });
    assert.equal(accepted.status, 200, accepted.text);
    assert.equal((await anonymous.request('POST', link.pathname, { password: 'again' })).status, 404);
    await anonymous.login({ username: 'invited@example.com', password: 'chosen one' });

    const invite = await inlet.api.request('POST', '/config/v1/invites/', { email: 'invited2@example.com', roles: ['operator'] });
    assert.equal(invite.status, 201, invite.text);
    const pending = await inlet.api.request('GET', '/config/v1/invites/');
    assert.ok(pending.body.some((i: any) => i.email === 'invited2@example.com'));
    assert.equal((await anonymous.request('POST', new URL(invite.body.invite_url).pathname, { password: 'p' })).status, 200);
  });

  test('a user changes their own password; the old one and the old tokens stop working', async () => {
    const user = await userWith(['read_only']);
    const wrong = await user.request('POST', '/config/v1/users/change_password/', { old_password: 'nope', new_password: 'new secret' });
    assert.equal(wrong.status, 401);
    const changed = await user.request('POST', '/config/v1/users/change_password/', { old_password: 'pw-' + user.email, new_password: 'new secret' });
    assert.equal(changed.status, 204, changed.text);
    assert.equal((await user.request('GET', '/config/v1/orgs/')).status, 401);
    assert.equal((await new ApiClient(inlet.api.url).request('POST', '/config/v1/login', { username: user.email, password: 'pw-' + user.email })).status, 401);
    await user.login({ username: user.email, password: 'new secret' });
  });

  test("a deleted user's tokens stop at once", async () => {
    const user = await userWith(['read_only']);
    assert.equal((await user.request('GET', '/config/v1/orgs/')).status, 200);
    assert.equal((await inlet.api.request('DELETE', `/config/v1/users/${user.id}/`)).status, 204);
    assert.equal((await user.request('GET', '/config/v1/orgs/')).status, 401);
    assert.equal((await user.query('SELECT 1')).status, 401);
    assert.equal((await inlet.api.request('GET', `/config/v1/users/${user.id}/`)).status, 404);
  });
});

describe('service accounts', () => {
  test('a service-account JWT queries and creates jobs; revoked or expired it is 401', async () => {
    const created = await inlet.api.request('POST', '/config/v1/service_accounts/', { name: 'dashboard' });
    assert.equal(created.status, 201, created.text);
    const id = created.body.uuid;
    const roles = await inlet.api.request('POST', `/config/v1/users/${id}/add_roles/`, { roles: ['operator'] });
    assert.equal(roles.status, 200, roles.text);
    assert.deepEqual(roles.body.roles, ['operator']);

    const issued = await inlet.api.request('POST', `/config/v1/service_accounts/${id}/tokens/`);
    assert.equal(issued.status, 200, issued.text);
    const claims = decodeJwt(issued.body.token);
    assert.equal(claims.sub, id);
    assert.equal(typeof claims.iat, 'number');
    assert.ok(Math.abs(claims.exp! - claims.iat! - 365 * 86400) <= 1, `lifetime ${claims.exp! - claims.iat!}`);
    const automation = new ApiClient(inlet.api.url);
    automation.token = issued.body.token;
    automation.orgId = inlet.api.orgId;
    assert.equal((await automation.query('SELECT count() FROM website.events')).status, 200);
    const job = await automation.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch/`, referenceJob('by service account', `file://${files}/logs/`));
    assert.equal(job.status, 200, job.text);
    assert.equal((await automation.request('GET', '/config/v1/users/')).status, 403);

    // A token whose signature was changed is refused.
    const [h, p, s] = issued.body.token.split('.');
    automation.token = `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`;
    assert.equal((await automation.query('SELECT 1')).status, 401);
    automation.token = issued.body.token;

    assert.equal((await inlet.api.request('DELETE', `/config/v1/service_accounts/${id}/tokens/`)).status, 204);
    const revoked = await automation.query('SELECT 1');
    assert.equal(revoked.status, 401);
    assert.match(revoked.body.detail, /revoked/);
    // Tokens created after the revocation work.
    const fresh = await inlet.api.request('POST', `/config/v1/service_accounts/${id}/tokens/`, { expiry: new Date(Date.now() + 2000).toISOString() });
    automation.token = fresh.body.token;
    assert.equal((await automation.query('SELECT 1')).status, 200);
    await delay(2500);
    const expired = await automation.query('SELECT 1');
    assert.equal(expired.status, 401);
    assert.match(expired.body.detail, /expired/);
    // No password login for a service account.
    const list = await inlet.api.request('GET', '/config/v1/service_accounts/');
    assert.ok(list.body.some((a: any) => a.uuid === id && a.name === 'dashboard'));
    assert.equal((await inlet.api.request('DELETE', `/config/v1/service_accounts/${id}/`)).status, 204);
    assert.equal((await inlet.api.request('POST', `/config/v1/service_accounts/${id}/tokens/`)).status, 404);
  });

  test('a past or unreadable expiry is a 400', async () => {
    const created = await inlet.api.request('POST', '/config/v1/service_accounts/', { name: 'expiry-checks' });
    const past = await inlet.api.request('POST', `/config/v1/service_accounts/${created.body.uuid}/tokens/`, { expiry: '2000-01-01T00:00:00Z' });
    assert.equal(past.status, 400);
    assert.match(past.body.detail, /in the past/);
    assert.equal((await inlet.api.request('POST', `/config/v1/service_accounts/${created.body.uuid}/tokens/`, { expiry: 'soon' })).status, 400);
  });
});

describe("hdxcli's requests", () => {
  // The calls hdxcli's user, role and service-account commands make, with its bodies (hydrolix/hdxcli cli_interface).
  test('user invite / assign-role / remove-role / delete, role list and permission list, service-account create / generate-token / assign-role / list', async () => {
    const api = inlet.api;
    const roles = await api.request('GET', '/config/v1/roles/');
    assert.ok(roles.body.every((r: any) => typeof r.id === 'string' && typeof r.name === 'string'));
    const permissions = await api.request('GET', '/config/v1/roles/permissions');
    assert.equal(permissions.status, 200);
    assert.ok(permissions.body[0].permissions.includes('view_user'));

    const invite = await api.request('POST', '/config/v1/invite/', { email: 'cli-invited@example.com', org: api.orgId, roles: ['read_only'] });
    assert.equal(invite.status, 201, invite.text);
    const found = (await api.request('GET', '/config/v1/users/')).body.find((u: any) => u.email === 'cli-invited@example.com');
    assert.deepEqual(found.roles, ['read_only']);
    assert.equal((await api.request('POST', `/config/v1/users/${found.uuid}/add_roles/`, { roles: ['operator'] })).status, 200);
    assert.equal((await api.request('POST', `/config/v1/users/${found.uuid}/remove_roles/`, { roles: ['read_only'] })).status, 200);
    assert.deepEqual((await api.request('GET', `/config/v1/users/${found.uuid}`)).body.roles, ['operator']);
    assert.equal((await api.request('DELETE', `/config/v1/users/${found.uuid}`)).status, 204);

    const created = await api.request('POST', '/config/v1/service_accounts/', { name: 'cli-robot', description: 'Created with hdxcli tool' });
    assert.equal(created.status, 201, created.text);
    assert.equal((await api.request('POST', `/config/v1/users/${created.body.uuid}/add_roles/`, { roles: ['read_only'] })).status, 200);
    const listed = (await api.request('GET', '/config/v1/service_accounts/')).body.find((a: any) => a.name === 'cli-robot');
    assert.equal(listed.uuid, created.body.uuid);
    // hdxcli takes a service account's roles from the users list.
    const asUser = (await api.request('GET', '/config/v1/users/')).body.find((u: any) => u.uuid === created.body.uuid);
    assert.deepEqual(asUser.roles, ['read_only']);
    const expiry = new Date(Date.now() + 30 * 86_400_000).toISOString().replace(/\.\d+Z$/, '.000Z');
    const token = await api.request('POST', `/config/v1/service_accounts/${created.body.uuid}/tokens/`, { expiry });
    const claims = decodeJwt(token.body.token);
    assert.ok(Math.abs(claims.exp! - claims.iat! - 30 * 86400) <= 2);
    assert.equal((await api.request('DELETE', `/config/v1/service_accounts/${created.body.uuid}`)).status, 204);
  });
});

describe('on each catalog', () => {
  for (const dialect of DIALECTS) {
    test(`${dialect}: invites, roles and service-account tokens; the signing key outlives a restart`, async () => {
      const fresh = await freshCatalog(dialect);
      await fresh.catalog.close();
      const dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-access-restart-'));
      let server = await startInlet({ workers: '0', databaseUrl: fresh.url }, dataDir);
      try {
        const api = server.api;
        const invited = await api.request('POST', '/config/v1/invites/', { email: 'pg-invited@example.com', roles: ['read_only'] });
        assert.equal(invited.status, 201, invited.text);
        const anonymous = new ApiClient(api.url);
        assert.equal((await anonymous.request('POST', new URL(invited.body.invite_url).pathname, { password: 'pw' })).status, 200);
        await anonymous.login({ username: 'pg-invited@example.com', password: 'pw' });
        assert.equal((await anonymous.request('GET', '/config/v1/users/')).status, 403);

        const account = await api.request('POST', '/config/v1/service_accounts/', { name: 'robot', roles: ['read_only'] });
        const issued = await api.request('POST', `/config/v1/service_accounts/${account.body.uuid}/tokens/`);
        await server.stop({ keepData: true });
        server = await startInlet({ workers: '0', databaseUrl: fresh.url }, dataDir);
        const robot = new ApiClient(server.api.url);
        robot.token = issued.body.token;
        assert.equal((await robot.request('GET', '/config/v1/orgs/')).status, 200, 'a token signed before the restart still verifies');
        assert.equal((await server.api.request('DELETE', `/config/v1/service_accounts/${account.body.uuid}/tokens/`)).status, 204);
        assert.equal((await robot.request('GET', '/config/v1/orgs/')).status, 401);
      } finally {
        await server.stop();
        await fresh.drop();
      }
    });
  }
});
