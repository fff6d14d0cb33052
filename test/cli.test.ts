import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { registerClientCommands } from '../src/cli/index.js';
import { csvOf, CSV_TRANSFORM, logRows } from './helpers/data.js';
import { ADMIN, startInlet, type TestInlet } from './helpers/inlet.js';
import { runNode, succeeded, type Run } from './helpers/process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ESC = '\u001b';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let root: string;
let configDir: string;
let inlet: TestInlet;

/** The installed `inlet` launcher as a user runs it: its own process, stdout a pipe (not a terminal). */
const cli = (args: readonly string[], env: Record<string, string> = {}): Promise<Run> =>
  runNode([path.join(ROOT, 'bin/inlet.js'), ...args], { cwd: root, env: { ...process.env, INLET_CONFIG_DIR: configDir, INLET_PASSWORD: '', ...env } });
const ok = succeeded;

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'inlet-cli-'));
  configDir = path.join(root, 'config');
  inlet = await startInlet({ fileRoots: root });
});

after(async () => {
  await inlet.stop();
  rmSync(root, { recursive: true, force: true });
});

test('login keeps the URL and token in a profile only its owner can read; a wrong password is one clear line', { timeout: 60_000 }, async () => {
  const wrong = await cli(['login', '--url', inlet.service.url!, '--username', ADMIN.username, '--password', 'not it']);
  assert.equal(wrong.code, 1);
  assert.equal(wrong.stderr, 'inlet: wrong username or password (run inlet login again) [HTTP 401]\n');

  const login = ok(await cli(['login', '--url', inlet.service.url!, '--username', ADMIN.username], { INLET_PASSWORD: ADMIN.password }));
  assert.match(login.stdout, /Logged in to http:\/\/127\.0\.0\.1:\d+ as admin@example\.com/);
  const file = path.join(configDir, 'profiles.json');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const saved = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(saved.profiles.default.url, inlet.service.url);
  assert.equal(saved.profiles.default.org, inlet.api.orgId);
  assert.equal(typeof saved.profiles.default.token, 'string');

  ok(await cli(['login', '--url', inlet.service.url!, '--username', ADMIN.username, '--password', ADMIN.password, '--profile', 'second']));
  assert.deepEqual(Object.keys(JSON.parse(readFileSync(file, 'utf8')).profiles).sort(), ['default', 'second']);
  assert.equal(statSync(file).mode & 0o777, 0o600);
});

test('project, table and transform: create, list and show, as tables or JSON', { timeout: 120_000 }, async () => {
  const project = ok(await cli(['project', 'create', 'website', '--description', 'web logs']));
  assert.match(project.stdout.trim(), UUID);
  ok(await cli(['table', 'create', 'website.events']));
  const transformFile = path.join(root, 'transform.json');
  writeFileSync(transformFile, JSON.stringify(CSV_TRANSFORM));
  ok(await cli(['transform', 'create', 'website.events', '--file', transformFile]));

  const projects = JSON.parse(ok(await cli(['project', 'list', '--json'])).stdout);
  assert.deepEqual(
    projects.map((p: any) => [p.name, p.description]),
    [['website', 'web logs']],
  );
  const table = ok(await cli(['table', 'list', 'website']));
  assert.match(table.stdout, /│ events\s+│ [0-9a-f-]{36} │ timestamp\s+│/);
  const transform = JSON.parse(ok(await cli(['transform', 'show', 'website.events.mytransformname', '--json'])).stdout);
  assert.equal(transform.type, 'csv');
  assert.equal(transform.settings.is_default, true);
  const updated = JSON.parse(ok(await cli(['table', 'update', 'website.events', '--description', 'edge logs', '--json'])).stdout);
  assert.equal(updated.description, 'edge logs');
  assert.equal(updated.name, 'events', 'an update changes only the fields it is given');
  assert.match(ok(await cli(['project', 'show', 'website'])).stdout, /│ description\s+│ web logs\s+│/);

  // The API's own message, on one line, and no stack trace.
  const missing = await cli(['table', 'show', 'website.nope']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'inlet: there is no table "website.nope": inlet table list website shows them\n');
  const duplicate = await cli(['project', 'create', 'website']);
  assert.equal(duplicate.code, 1);
  assert.match(duplicate.stderr, /^inlet: .*website.* \[HTTP 409\]\n$/);
});

test('job submit prints the id; status --watch in a pipe prints plain progress lines and exits 0 when done', { timeout: 120_000 }, async () => {
  const dir = path.join(root, 'good');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'a.csv'), csvOf(logRows(300)));
  writeFileSync(path.join(dir, 'b.csv'), csvOf(logRows(200, Date.UTC(2024, 0, 3))) + 'not a date,x,1,2,3,true\n');
  const submitted = ok(await cli(['job', 'submit', '--table', 'website.events', '--url', `file://${dir}/`, '--max-files', '10']));
  const id = submitted.stdout.trim();
  assert.match(id, UUID);
  assert.equal(submitted.stdout, `${id}\n`, 'the id alone on its line');

  const watched = ok(await cli(['job', 'status', id, '--watch', '--interval', '200']));
  assert.ok(!watched.stdout.includes(ESC), 'no cursor movement or colour in a pipe');
  const lines = watched.stdout.trimEnd().split('\n');
  assert.match(lines.at(-2)!, /^\d\d:\d\d:\d\d done {2}tasks \d+\/\d+ {2}100% {2}rows 501 \(.*\/s\) {2}bytes .* {2}rejects 1 {2}ETA 0 s$/);
  assert.match(lines.at(-1)!, new RegExp(`^job ${id} done in .*: 501 rows read, 500 written, 1 rejected; .* read`));

  const status = JSON.parse(ok(await cli(['job', 'status', id, '--json'])).stdout);
  assert.equal(status.status, 'done');
  assert.equal(status.details.rows.written, 500);
  const jobs = JSON.parse(ok(await cli(['job', 'list', '--json'])).stdout);
  assert.ok(jobs.some((j: any) => j.uuid === id));
  assert.match(ok(await cli(['job', 'list'])).stdout, new RegExp(`│ ${id} │ .* │ done\\s+│ 100%\\s+│ 500\\s+│ 1\\s+│`));

  const rows = ok(await cli(['query', 'SELECT host, count() FROM website.events GROUP BY host ORDER BY host']));
  assert.equal(rows.stdout, 'a.example.com\t167\nb.example.com\t167\nc.example.com\t166\n');
  const json = JSON.parse(ok(await cli(['query', 'SELECT count() AS n FROM website.events', '--json'])).stdout);
  assert.equal(Number(json.data[0].n), 500);
  assert.equal(ok(await cli(['query', 'SELECT count() AS n FROM website.events', '--format', 'CSVWithNames'])).stdout, '"n"\n500\n');
  const badQuery = await cli(['query', 'SELECT nope FROM website.events']);
  assert.equal(badQuery.code, 1);
  assert.match(badQuery.stderr, /^inlet: .*nope.* \[HTTP 400\]\n$/);

  assert.equal(ok(await cli(['job', 'undo', id])).stdout, `job ${id} undone\n`);
  assert.equal(ok(await cli(['query', 'SELECT count() FROM website.events'])).stdout, '0\n');
});

test('job submit --watch exits 1 on a failed job, with a line for the file that failed', { timeout: 120_000 }, async () => {
  const dir = path.join(root, 'bad');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'fine.csv'), csvOf(logRows(10)));
  writeFileSync(path.join(dir, 'broken.csv.gz'), 'this is not gzip at all\n');
  const run = await cli(['job', 'submit', '--table', 'website.events', '--url', `file://${dir}/`, '--name', 'bad gzip', '--watch', '--interval', '200']);
  assert.equal(run.code, 1, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
  assert.match(run.stdout, /^job [0-9a-f-]{36} submitted\n/);
  // A file that cannot be read fails its INDEX task, whose error names the file.
  assert.match(run.stdout, /\nerror: INDEX task failed: file:\/\/.*broken\.csv\.gz is not gzip data.*\n/);
  assert.match(run.stdout, /\njob [0-9a-f-]{36} failed in .*; 1 error\n$/);
  assert.ok(!run.stdout.includes(ESC), 'no escape sequences in a pipe');
});

test('job submit --watch exits 1 on a missing source; job retry runs it again', { timeout: 120_000 }, async () => {
  // The body from a file, as the API takes it, with a flag on top.
  const body = path.join(root, 'job.json');
  writeFileSync(body, JSON.stringify({ name: 'from a file', settings: { max_files: 5, source: { table: 'website.events', settings: { url: `file://${root}/no-such-dir/missing.csv` } } } }));
  const run = await cli(['job', 'submit', '--file', body, '--input-concurrency', '2', '--watch', '--interval', '200']);
  assert.equal(run.code, 1, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
  assert.match(run.stdout, /\nerror: .*missing\.csv.*\n/);
  const id = /^job (\S+) submitted/.exec(run.stdout)![1]!;
  const shown = JSON.parse(ok(await cli(['job', 'show', id, '--json'])).stdout);
  assert.equal(shown.name, 'from a file');
  assert.equal(shown.settings.max_files, 5);
  assert.equal(shown.settings.input_concurrency, 2);

  // A retry runs the failed LIST task again: the source is still missing, so the job fails again.
  ok(await cli(['job', 'retry', id]));
  const again = await cli(['job', 'status', id, '--watch', '--interval', '200']);
  assert.equal(again.code, 1, `stdout: ${again.stdout}\nstderr: ${again.stderr}`);
  const done = JSON.parse(ok(await cli(['job', 'show', id, '--json'])).stdout);
  assert.equal(done.status, 'failed');
  const cancel = await cli(['job', 'cancel', id]);
  assert.equal(cancel.code, 1);
  assert.match(cancel.stderr, /^inlet: batch job .* is already failed: only ready or running jobs can be canceled \[HTTP 409\]\n$/);
  ok(await cli(['job', 'delete', id]));
  assert.equal((await cli(['job', 'show', id])).code, 1);
});

test('without a login the CLI says how to log in, and bad flags name the flag', { timeout: 60_000 }, async () => {
  const nobody = await cli(['project', 'list', '--profile', 'nobody']);
  assert.equal(nobody.code, 1);
  assert.match(nobody.stderr, /^inlet: no profile "nobody" in .*profiles\.json: run inlet login --url URL --username EMAIL --profile nobody\n$/);
  const badFlag = await cli(['job', 'submit', '--table', 'website.events', '--url', 'file:///x/', '--max-files', 'many']);
  assert.equal(badFlag.code, 1);
  assert.equal(badFlag.stderr, 'inlet: --max-files "many" is not valid: use a whole number >= 0\n');
});

test('text from the server cannot drive the terminal: control characters are shown, not obeyed', { timeout: 60_000 }, async () => {
  const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/projects/`, { name: 'shady', description: `clear${ESC}[2Jscreen` });
  assert.equal(created.status, 201);
  const shown = ok(await cli(['project', 'show', 'shady']));
  assert.ok(!shown.stdout.includes(ESC));
  assert.match(shown.stdout, /│ description\s+│ clear\\u001b\[2Jscreen\s+│/);
  const missing = await cli(['project', 'show', `nope${ESC}[2J`]);
  assert.equal(missing.code, 1);
  assert.ok(!missing.stderr.includes(ESC));
});

test('--watch exits 2 when the job is canceled', { timeout: 120_000 }, async () => {
  // No workers: the job stays ready until it is canceled, whatever the machine's load.
  const idle = await startInlet({ workers: '0', fileRoots: root });
  const env = { INLET_CONFIG_DIR: path.join(root, 'config-idle') };
  try {
    const base = `/config/v1/orgs/${idle.api.orgId}`;
    const project = await idle.api.request('POST', `${base}/projects/`, { name: 'website' });
    const table = await idle.api.request('POST', `${base}/projects/${project.body.uuid}/tables/`, { name: 'events' });
    assert.equal((await idle.api.request('POST', `${base}/projects/${project.body.uuid}/tables/${table.body.uuid}/transforms/`, CSV_TRANSFORM)).status, 201);
    ok(await cli(['login', '--url', idle.service.url!, '--username', ADMIN.username, '--password', ADMIN.password], env));
    const id = ok(await cli(['job', 'submit', '--table', 'website.events', '--url', `file://${root}/`], env)).stdout.trim();
    const watching = cli(['job', 'status', id, '--watch', '--interval', '200'], env);
    await idle.api.waitForJob(id, (status) => status === 'ready');
    assert.equal((await idle.api.request('POST', `${base}/jobs/batch/${id}/cancel`)).status, 200);
    const run = await watching;
    assert.equal(run.code, 2, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
    assert.match(run.stdout, new RegExp(`\njob ${id} canceled in `));
  } finally {
    await idle.stop();
  }
});

test('every client command and group shows an example in its --help', () => {
  const program = new Command('inlet');
  registerClientCommands(program);
  const walk = (command: Command): Command[] => [command, ...command.commands.flatMap(walk)];
  const commands = walk(program).slice(1);
  assert.ok(commands.length >= 25, `only ${commands.length} commands`);
  for (const command of commands) {
    let help = '';
    command.configureOutput({ writeOut: (text) => (help += text) });
    command.outputHelp();
    assert.match(help, /\nExample:\n {2}\$ inlet \S+/, `inlet ${command.parent === program ? '' : `${command.parent!.name()} `}${command.name()} --help has no example`);
  }
});
