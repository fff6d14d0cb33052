import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import Fastify from 'fastify';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { consoleRoutes } from '../src/api/routes/console.js';
import { ensureConsoleBuilt } from '../ui/build.js';
import { csvOf, CSV_TRANSFORM, logRows, referenceJob } from './helpers/data.js';
import { FaultProxy } from './helpers/fault-proxy.js';
import { ADMIN, createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3 } from './helpers/s3.js';

// Screenshots go to a temporary dir unless asked for (INLET_SCREENSHOT_DIR=docs/screenshots refreshes the README's).
const SHOTS = process.env.INLET_SCREENSHOT_DIR ?? mkdtempSync(path.join(tmpdir(), 'inlet-console-shots-'));
const CHROMIUM = '/usr/bin/chromium';
const FILES = 12;
const ROWS_PER_FILE = 20_000;
const REJECTED = 2;
// Generous: the machine running the tests may be loaded.
const JOB_TIMEOUT_MS = 90_000;

let root: string;
let inlet: TestInlet;
let browser: Browser;
let page: Page;
const offsite: string[] = [];
const pageErrors: string[] = [];

before(async () => {
  await ensureConsoleBuilt();
  root = mkdtempSync(path.join(tmpdir(), 'inlet-console-'));
  mkdirSync(path.join(root, 'good'));
  for (let i = 0; i < FILES; i++) {
    let csv = csvOf(logRows(ROWS_PER_FILE, Date.UTC(2024, 0, 1), 1, i * ROWS_PER_FILE));
    // Two rows of the last file do not convert: rejected, not failed.
    if (i === FILES - 1) csv += '2024-01-03 00:00:00,x.example.com,abc,1,1,true\n2024-01-03 00:00:01,x.example.com,def,1,1,true\n';
    writeFileSync(path.join(root, 'good', `part-${i}.csv`), csv);
  }
  mkdirSync(path.join(root, 'broken'));
  writeFileSync(path.join(root, 'broken', 'a.csv'), csvOf(logRows(10)));
  writeFileSync(path.join(root, 'broken', 'b.csv.gz'), 'this is not gzip\n');
  inlet = await startInlet({ fileRoots: root });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
  if (!existsSync(CHROMIUM)) throw new Error(`the console's end-to-end tests drive Debian's Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does)`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  // The console must work with nothing from elsewhere: anything off this server is refused and noted.
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(inlet.service.url!)) return route.continue();
    offsite.push(url);
    return route.abort();
  });
  page.on('pageerror', (err) => pageErrors.push(err.message));
});

after(async () => {
  await browser?.close();
  await inlet?.stop();
  rmSync(root, { recursive: true, force: true });
  if (!process.env.INLET_SCREENSHOT_DIR) rmSync(SHOTS, { recursive: true, force: true });
});

/** Waits until the element's rendered text (cells apart, as a person reads them) matches. */
async function waitForText(locator: Locator, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + JOB_TIMEOUT_MS;
  let text = '';
  while (Date.now() < deadline) {
    text = (await locator.count()) > 0 ? await locator.innerText() : '';
    if (pattern.test(text)) return;
    await delay(100);
  }
  assert.fail(`${pattern} never matched: ${JSON.stringify(text)}`);
}

const shot = (name: string, fullPage = true) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });

async function submitJob(name: string, url: string, more = ''): Promise<void> {
  await page.click('a[href="#/jobs"]');
  await page.getByRole('button', { name: 'New job' }).click();
  await page.fill('input[name=name]', name);
  await page.fill('input[name=table]', 'website.events');
  await page.fill('input[name=url]', url);
  await page.fill('textarea[name=more]', more);
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.waitForURL(/#\/jobs\/[0-9a-f-]+$/);
}

test('the console: log in, submit a job, watch it finish, open a failed file, look at the table, run a query', { timeout: 300_000 }, async () => {
  await page.goto(`${inlet.service.url}/ui`);
  await page.fill('input[name=username]', ADMIN.username);
  await shot('login');
  await page.fill('input[name=password]', 'not the password');
  await page.getByRole('button', { name: 'Log in' }).click();
  assert.match(await page.getByRole('alert').innerText(), /401: wrong username or password/);
  await page.fill('input[name=password]', ADMIN.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Batch jobs' }).waitFor();
  assert.ok(await page.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } }).sessionStorage.getItem('inlet.session')), 'the token is kept in sessionStorage');

  // A job that loads: the page follows it to done without a reload.
  // Settings the form has no field for are a JSON object; anything else is refused before sending.
  await page.getByRole('button', { name: 'New job' }).click();
  await page.fill('input[name=name]', 'bad settings');
  await page.fill('input[name=table]', 'website.events');
  await page.fill('input[name=url]', `file://${root}/good/`);
  await page.fill('textarea[name=more]', '[1]');
  await page.getByRole('button', { name: 'Submit' }).click();
  assert.match(await page.getByRole('alert').innerText(), /More settings must be a JSON object/);
  await page.fill('textarea[name=more]', '{"max_file": 1}');
  await page.getByRole('button', { name: 'Submit' }).click();
  await page
    .getByRole('alert')
    .filter({ hasText: /did you mean/ })
    .waitFor();
  await page.getByRole('button', { name: 'Close' }).click();

  // One INDEX task a file, one at a time: the job runs long enough for a few points of rows per second.
  await submitJob('load january', `file://${root}/good/`, '{"input_aggregation": 500000, "input_concurrency": 1}');
  await page.locator('h2 .badge.done').waitFor({ timeout: JOB_TIMEOUT_MS });
  const total = FILES * ROWS_PER_FILE;
  const facts = await page.locator('dl.facts').innerText();
  assert.match(facts, new RegExp(`${total.toLocaleString('en-US')} written, ${REJECTED} rejected`));
  const tasks = await page.locator('table.tasks').innerText();
  assert.match(tasks, new RegExp(`INDEX\\s+0\\s+0\\s+${FILES}\\s+0\\s+0`));
  await page
    .locator(`table.files tr[data-url$="part-${FILES - 1}.csv"]`)
    .getByRole('button', { name: /rejects/ })
    .click();
  assert.match(await page.locator('ul.rejects').innerText(), /column status: .*abc/);
  await shot('job');

  // A job with a file that cannot be read: it fails, and the file's error opens.
  await submitJob('broken files', `file://${root}/broken/`);
  await page.locator('h2 .badge.failed').waitFor({ timeout: JOB_TIMEOUT_MS });
  await page.locator('table.files tr.failed[data-url$="b.csv.gz"]').getByRole('button', { name: /error/ }).click();
  assert.match(await page.locator('pre.file-error').innerText(), /gzip/i);
  // Retry: whatever the server answers (a new run, or an error) is shown.
  await page.getByRole('button', { name: 'Retry' }).click();
  await page.locator('.actions .muted, p.error[role=alert]').first().waitFor();
  await shot('job-failed');

  // The list: both jobs, live, filtered by status and by table.
  await page.click('a[href="#/jobs"]');
  await page.locator('table.jobs tbody tr[data-job]').nth(1).waitFor();
  assert.equal(await page.locator('table.jobs tbody tr[data-job]').count(), 2);
  await page.selectOption('select[name=status]', 'done');
  assert.equal(await page.locator('table.jobs tbody tr[data-job]').count(), 1);
  assert.match(await page.locator('table.jobs tbody').innerText(), /load january/);
  await page.selectOption('select[name=status]', '');
  await page.selectOption('select[name=table]', 'website.events');
  assert.equal(await page.locator('table.jobs tbody tr[data-job]').count(), 2);
  // A job created elsewhere (curl, the CLI) shows up, and moves on, without a reload.
  await page.evaluate(() => ((globalThis as any).notReloaded = true));
  const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob('from curl', `file://${root}/broken/a.csv`));
  assert.equal(created.status, 200, created.text);
  await page.locator(`table.jobs tr[data-job="${created.body.uuid}"] .badge.done`).waitFor({ timeout: JOB_TIMEOUT_MS });
  assert.equal(await page.evaluate(() => (globalThis as any).notReloaded), true, 'the page was not reloaded');
  await shot('jobs');

  // The table: its rows, partitions, time range and transforms, and rows per hour.
  await page.click('a[href="#/tables"]');
  await page.getByRole('button', { name: 'website.events' }).click();
  await page.locator('.table-detail .chart canvas').waitFor();
  const table = await page.locator('.table-detail dl.facts').innerText();
  // The broken job's good file shared its task with the broken one and was not loaded; the curl job loaded it.
  assert.match(table, new RegExp(`Rows\\s+${(total + 10).toLocaleString('en-US')}`));
  assert.match(table, /Partitions\s+[1-9]/);
  assert.match(table, /2024-01-01 00:00:00/);
  assert.match(table, /mytransformname \(csv, default\)/);
  await shot('tables');

  // A query: the answer as a table, and a time series as a chart.
  await page.click('a[href="#/query"]');
  await page.fill('textarea[name=sql]', 'SELECT toStartOfHour(timestamp) AS hour, count() AS rows, countIf(status = 500) AS errors\nFROM website.events\nGROUP BY hour ORDER BY hour');
  await page.getByRole('button', { name: 'Run' }).click();
  await page.locator('table.result tbody tr').first().waitFor();
  assert.equal(await page.locator('table.result tbody tr').count(), Math.ceil(total / 3600));
  assert.match(await page.locator('table.result tbody tr').first().innerText(), /2024-01-01 00:00:00\s+3,?610\s+1,?203/);
  await page.locator('section .chart canvas').waitFor();
  await shot('query');

  // A query error is the server's message, on the page.
  await page.fill('textarea[name=sql]', 'SELECT nope FROM website.events');
  await page.getByRole('button', { name: 'Run' }).click();
  assert.match(await page.getByRole('alert').innerText(), /400: .*nope/);
  await page.fill('textarea[name=sql]', 'SELECT count() AS n FROM website.events FORMAT CSV');
  await page.getByRole('button', { name: 'Run' }).click();
  assert.match(await page.getByRole('alert').innerText(), /FORMAT CSV: the console reads FORMAT JSON answers only/);
  await page.fill('textarea[name=sql]', 'SELECT count() AS n FROM website.events FORMAT JSON;');
  await page.getByRole('button', { name: 'Run' }).click();
  await page.locator('table.result tbody tr').first().waitFor();
  assert.equal(await page.locator('table.result tbody').innerText(), String(total + 10));

  assert.deepEqual(offsite, [], 'the console asked for nothing outside this server');
  assert.deepEqual(pageErrors, [], 'no script errors on the page');
});

test('Cancel on a running job: the page shows it canceled, its task too', { timeout: 120_000 }, async () => {
  const s3 = await startLocalS3();
  const proxy = new FaultProxy(s3.endpoint);
  let other: TestInlet | undefined;
  const tab = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  try {
    await proxy.start();
    await s3.createBucket('slow');
    await s3.put('slow', 'logs/one.csv', csvOf(logRows(20_000)));
    // The download stops halfway and never ends: the job runs until canceled.
    proxy.fail('GET', /^\/slow\/logs\//, 'stall');
    other = await startInlet({ s3Endpoint: proxy.endpoint });
    await createWebsiteEvents(other.api, [CSV_TRANSFORM]);
    const created = await other.api.request('POST', `/config/v1/orgs/${other.api.orgId}/jobs/batch`, referenceJob('stalled', 's3://slow/logs/'));
    assert.equal(created.status, 200, created.text);
    await tab.goto(`${other.service.url}/ui/#/jobs/${created.body.uuid}`);
    await tab.fill('input[name=username]', ADMIN.username);
    await tab.fill('input[name=password]', ADMIN.password);
    await tab.getByRole('button', { name: 'Log in' }).click();
    await waitForText(tab.locator('table.tasks'), /INDEX\s+0\s+1\s+0/);
    await tab.getByRole('button', { name: 'Cancel' }).click();
    await tab.locator('h2 .badge.canceled').waitFor({ timeout: JOB_TIMEOUT_MS });
    assert.match(await tab.locator('table.tasks').innerText(), /INDEX\s+0\s+0\s+0\s+0\s+1/);
    assert.equal(await tab.getByRole('button', { name: 'Cancel' }).isDisabled(), true, 'a finished job cannot be canceled again');
  } finally {
    await tab.close();
    await other?.stop();
    await proxy.stop();
    await s3.stop();
  }
});

test('/docs shows the OpenAPI document with nothing from elsewhere', { timeout: 60_000 }, async () => {
  await page.goto(`${inlet.service.url}/docs`);
  await page.locator('.opblock-summary-path', { hasText: '/config/v1/orgs/{org}/jobs/batch/{job}/status' }).first().waitFor();
  assert.match(await page.locator('.info .title').innerText(), /Inlet HTTP API/);
  await shot('docs', false);
  assert.deepEqual(offsite, [], 'the reference page asked for nothing outside this server');
  assert.deepEqual(pageErrors, []);
});

test('/ui serves the built console with its hashed assets cached and the page itself re-checked', async () => {
  const index = await fetch(`${inlet.service.url}/ui/`);
  assert.equal(index.status, 200);
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  const html = await index.text();
  const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  assert.ok(script, html);
  const asset = await fetch(`${inlet.service.url}${script}`);
  assert.equal(asset.status, 200);
  assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
  assert.match(asset.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  await asset.arrayBuffer();
});

test('without a build, /ui answers 503 saying how to build the console, and the API still serves', async () => {
  const empty = mkdtempSync(path.join(tmpdir(), 'inlet-no-console-'));
  const app = Fastify();
  try {
    consoleRoutes(app, pathToFileURL(`${empty}/`));
    app.get('/version', async () => 'inlet');
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    for (const route of ['/ui', '/ui/', '/ui/assets/index.js']) {
      const answer = await fetch(address + route);
      assert.equal(answer.status, 503, route);
      assert.match(await answer.text(), /npm run build:ui/);
    }
    assert.equal((await fetch(`${address}/version`)).status, 200);
  } finally {
    await app.close();
    rmSync(empty, { recursive: true, force: true });
  }
});
