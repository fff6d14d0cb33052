import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { csvOf, CSV_TRANSFORM, logRows, referenceJob } from './helpers/data.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';

let s3: LocalS3;
let inlet: TestInlet;
const jobs = () => `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`;
const withFilter = (name: string, regex_filter: string) => referenceJob(name, 's3://regex-bucket/', { settings: { regex_filter } });

before(async () => {
  s3 = await startLocalS3();
  inlet = await startInlet({ s3Endpoint: s3.endpoint, workers: '1' });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
  await s3.createBucket('regex-bucket');
  // A key that makes `(a+)+$` backtrack 2^40 times in a backtracking engine.
  await s3.put('regex-bucket', `${'a'.repeat(40)}b`, csvOf(logRows(10)));
  await s3.put('regex-bucket', 'aaaa', csvOf(logRows(10)));
});

after(async () => {
  await inlet?.stop();
  await s3?.stop();
});

test('a pattern that backtracks exponentially lists in linear time: the job ends and keeps what matches', { timeout: 90_000 }, async () => {
  const created = await inlet.api.request('POST', jobs(), withFilter('nested repeat', '^s3://regex-bucket/(a+)+$'));
  assert.equal(created.status, 200, created.text);
  const done = await inlet.api.waitForJob(created.body.uuid, undefined, 30_000);
  assert.equal(done.status, 'done', JSON.stringify(done.details));
  // Only `aaaa` matches; the 40 a's and a b do not.
  assert.equal(done.details.rows.written, 10);
});

test('a pattern RE2 cannot compile is a 400 that names it, and no job is created', async () => {
  for (const [pattern, reason] of [
    ['^s3://regex-bucket/(a)\\1$', /invalid escape sequence/],
    ['^s3://regex-bucket/(?=a)', /Perl syntax/],
    ['^s3://regex-bucket/a{1001}', /repeat count/],
    ['^s3://regex-bucket/[', /missing closing \]/],
  ] as const) {
    const refused = await inlet.api.request('POST', jobs(), withFilter(`refused ${pattern}`, pattern));
    assert.equal(refused.status, 400, refused.text);
    assert.ok(refused.body.detail.includes(JSON.stringify(pattern)), refused.body.detail);
    assert.match(refused.body.detail, reason);
    assert.match(refused.body.detail, /settings\.regex_filter/);
  }
  const long = await inlet.api.request('POST', jobs(), withFilter('long', 'a{1000}'.repeat(200)));
  assert.equal(long.status, 400, long.text);
  assert.match(long.body.detail, /settings\.regex_filter is 1400 characters long: use at most 1024/);
  const listed = await inlet.api.request('GET', jobs());
  assert.ok(!listed.body.some((job: { name: string }) => job.name.startsWith('refused') || job.name === 'long'));
});
