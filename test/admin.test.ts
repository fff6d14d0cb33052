import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../src/config/config.js';
import { startService } from '../src/service.js';
import { ADMIN, ApiClient, startInlet } from './helpers/inlet.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-admin-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

/** `inlet admin reset-password` as a user runs it, in its own process. */
function resetPassword(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'admin', 'reset-password', ...args], { cwd: ROOT, env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function canLogIn(url: string, password: string): Promise<boolean> {
  const response = await new ApiClient(url).request('POST', '/config/v1/login', { username: ADMIN.username, password });
  return response.status === 200;
}

describe('the admin password after the first start', () => {
  test('a later start with another INLET_ADMIN_PASSWORD says it is ignored and how to reset it', async () => {
    await (await startInlet({ workers: '0' }, dataDir)).stop({ keepData: true });
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) });
    const config = loadConfig({}, { host: '127.0.0.1', port: '0', dataDir, workers: '0', adminEmail: ADMIN.username, adminPassword: 'something else' });
    const service = await startService(config, pino({ level: 'info' }, sink));
    try {
      const warning = lines.map((l) => JSON.parse(l)).find((l) => /INLET_ADMIN_PASSWORD is ignored/.test(l.msg));
      assert.ok(warning, lines.join(''));
      assert.equal(warning.level, 40);
      assert.match(warning.msg, /the admin user exists already, with another password \(it is set on the first start only\)/);
      assert.match(warning.msg, new RegExp(`inlet admin reset-password --email ${ADMIN.username}`));
      assert.equal(await canLogIn(service.url!, ADMIN.password), true);
    } finally {
      await service.stop();
    }
    // The same password as stored: nothing to say.
    lines.length = 0;
    const same = await startService({ ...config, adminPassword: ADMIN.password }, pino({ level: 'info' }, sink));
    await same.stop();
    assert.equal(lines.filter((l) => /INLET_ADMIN_PASSWORD/.test(l)).length, 0, lines.join(''));
  });

  test('inlet admin reset-password sets a given or generated password and revokes the old tokens', async () => {
    const inlet = await startInlet({ workers: '0' }, dataDir);
    try {
      const holder = new ApiClient(inlet.api.url);
      await holder.login();

      const given = await resetPassword(['--data-dir', dataDir, '--email', ADMIN.username, '--password', 'a new one']);
      assert.equal(given.code, 0, given.stderr);
      assert.match(given.stdout, /Password of admin@example\.com changed/);
      assert.equal(await canLogIn(inlet.api.url, 'a new one'), true);
      assert.equal(await canLogIn(inlet.api.url, ADMIN.password), false);
      // A token this server never verified is asked of the catalog: it is gone.
      assert.equal((await holder.request('GET', '/config/v1/orgs')).status, 401);

      const generated = await resetPassword([], { INLET_DATA_DIR: dataDir, INLET_ADMIN_EMAIL: ADMIN.username });
      assert.equal(generated.code, 0, generated.stderr);
      const password = /shown once\): (\S+)/.exec(generated.stdout)?.[1];
      assert.ok(password, generated.stdout);
      assert.equal(await canLogIn(inlet.api.url, password), true);
      assert.equal(await canLogIn(inlet.api.url, 'a new one'), false);

      await resetPassword(['--data-dir', dataDir, '--email', ADMIN.username, '--password', ADMIN.password]);
      assert.equal(await canLogIn(inlet.api.url, ADMIN.password), true);
    } finally {
      await inlet.stop({ keepData: true });
    }
  });

  test('an unknown user or a data dir without a catalog fail with a reason, changing nothing', async () => {
    const unknown = await resetPassword(['--data-dir', dataDir, '--email', 'who@example.com']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /there is no user "who@example\.com" in this catalog: give the admin's address with --email/);
    const empty = mkdtempSync(path.join(tmpdir(), 'inlet-admin-empty-'));
    try {
      const missing = await resetPassword(['--data-dir', empty]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /there is no catalog at .*catalog\.sqlite: give the data dir Inlet runs with/);
      assert.equal(existsSync(path.join(empty, 'catalog.sqlite')), false);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
