import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { csvOf } from './helpers/data.js';
import { startWithEvents, type TestInlet } from './helpers/inlet.js';
import { CORPUS, FIXED_ROWS } from './fixtures/query-corpus/corpus.js';

// The compatibility corpus: every query must answer as ClickHouse documents, except those
// listed as known failures, which must still fail (so a fix shows, and the list stays true).
let inlet: TestInlet;
let stop: () => Promise<void>;

before(async () => {
  ({ inlet, stop } = await startWithEvents('corpus', csvOf(FIXED_ROWS)));
});
after(async () => stop?.());

test(`the compatibility corpus (${CORPUS.length} queries)`, async () => {
  assert.ok(CORPUS.length >= 200, `${CORPUS.length} queries`);
  const unexpected: string[] = [];
  const failing: string[] = [];
  for (const query of CORPUS) {
    const result = await inlet.api.query(query.sql);
    const passed = result.status === 200 && result.text === query.expect;
    if (!passed) failing.push(`${query.sql}\n  -> ${result.status} ${result.text.slice(0, 300).replaceAll('\n', '\\n')}`);
    if (passed === (query.knownFailure !== undefined))
      unexpected.push(`${passed ? 'now passes' : 'fails'} [${query.origin}]: ${query.sql}\n  expected ${JSON.stringify(query.expect)}\n  got ${result.status} ${JSON.stringify(result.text.slice(0, 300))}`);
  }
  if (process.env.INLET_CORPUS_REPORT) console.log(`passed ${CORPUS.length - failing.length} of ${CORPUS.length}\n${failing.join('\n')}`);
  assert.deepEqual(unexpected, []);
});
