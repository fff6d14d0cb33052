import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EvenLineEndings } from '../src/ingest/even-line-endings.js';

/** The rule, read whole: no "\r" at all, or every "\r" followed by a "\n" and every "\n" led by a "\r". */
function evenWhole(text: string): boolean {
  if (!text.includes('\r')) return true;
  return text.replaceAll('\r\n', '').match(/[\r\n]/) === null;
}

function evenInPieces(text: string, cuts: readonly number[]): boolean {
  const bytes = Buffer.from(text, 'latin1');
  const endings = new EvenLineEndings();
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > from) endings.feed(bytes.subarray(from, cut));
    from = cut;
  }
  return endings.even;
}

test('a file ends its lines evenly with no "\\r", or with "\\r\\n" on every line, wherever its pieces are cut', () => {
  assert.equal(evenInPieces('a\nb\n', []), true);
  assert.equal(evenInPieces('a\r\nb\r\nc', [2, 3]), true);
  assert.equal(evenInPieces('a\r\nb\nc', []), false);
  assert.equal(evenInPieces('a\nb\r\n', [2]), false);
  assert.equal(evenInPieces('a\r\nb\r', [5]), false);
  assert.equal(evenInPieces('a\rb\r', []), false);
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const alphabet = ['a', 'b', '\n', '\r\n', '\r\n', '\r\n', '\r'];
  for (let k = 0; k < 20_000; k++) {
    const text = Array.from({ length: Math.floor(next() * 12) }, () => alphabet[Math.floor(next() * alphabet.length)]!).join('');
    const cuts = [...new Set(Array.from({ length: Math.floor(next() * 4) }, () => Math.floor(next() * text.length)))].sort((a, b) => a - b);
    assert.equal(evenInPieces(text, cuts), evenWhole(text), `${JSON.stringify(text)} cut at ${cuts.join(', ')}`);
  }
});
