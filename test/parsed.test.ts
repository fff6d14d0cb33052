import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jobSettingsOf, jobTransformDoc, jobTransformOf, ParsedTransforms } from '../src/catalog/parsed.js';
import { normaliseJobSettings } from '../src/jobs/settings.js';
import { CSV_TRANSFORM } from './helpers/data.js';

const row = (id: string, modified: string, settings: unknown = CSV_TRANSFORM.settings) => ({ id, modified, type: 'csv', settings: JSON.stringify(settings) });

test('a saved transform is validated once per version: the same row answers the same object, an edit a new one', () => {
  const parsed = new ParsedTransforms(10);
  const first = parsed.of(row('t1', '2026-01-01T00:00:00.000001Z'));
  assert.equal(first.transform.primary, 'timestamp');
  assert.equal(first.isDefault, true);
  assert.equal(parsed.of(row('t1', '2026-01-01T00:00:00.000001Z')), first);
  const renamed = { ...CSV_TRANSFORM.settings, output_columns: CSV_TRANSFORM.settings.output_columns.map((c) => (c.name === 'timestamp' ? { ...c, name: 'ts' } : c)) };
  const edited = parsed.of(row('t1', '2026-01-01T00:00:00.000002Z', renamed));
  assert.notEqual(edited, first);
  assert.equal(edited.transform.primary, 'ts');
  // The same modified time with other text (a clock that stood still) is not taken for the old version.
  assert.equal(parsed.of(row('t1', '2026-01-01T00:00:00.000002Z')).transform.primary, 'timestamp');
});

test('a saved transform that no longer validates fails every time, naming the field', () => {
  const parsed = new ParsedTransforms(10);
  const bad = row('t2', 'm', { ...CSV_TRANSFORM.settings, compression: 'rar' });
  assert.throws(() => parsed.of(bad), /settings\.compression is "rar"/);
  assert.throws(() => parsed.of(bad), /settings\.compression is "rar"/);
});

test('the cache keeps at most its bound, dropping the oldest', () => {
  const parsed = new ParsedTransforms(2);
  const a = parsed.of(row('a', 'm'));
  parsed.of(row('b', 'm'));
  parsed.of(row('c', 'm'));
  assert.notEqual(parsed.of(row('a', 'm')), a);
});

test('a job keeps its transform as it was, and reads its settings as they were normalised', () => {
  const doc = jobTransformDoc({ type: 'csv', settings: JSON.stringify(CSV_TRANSFORM.settings) });
  assert.deepEqual(JSON.parse(doc), { type: 'csv', settings: CSV_TRANSFORM.settings });
  assert.equal(jobTransformOf({ transform_doc: doc }).primary, 'timestamp');
  assert.throws(() => jobTransformOf({ transform_doc: JSON.stringify({ type: 'xml', settings: {} }) }), /type is "xml"/);
  const settings = normaliseJobSettings({ source: { table: 'website.events', settings: { url: 's3://bucket/prefix/' } } });
  assert.deepEqual(jobSettingsOf({ settings: JSON.stringify(settings) }), settings);
});
