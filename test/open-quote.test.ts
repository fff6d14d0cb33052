import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { leaveOutMisfits, UnclosedQuoteError } from '../src/ingest/misfit-records.js';
import { OpenQuote } from '../src/ingest/open-quote.js';
import type { CsvOptions } from '../src/transform/model.js';

const dir = mkdtempSync(path.join(tmpdir(), 'inlet-open-quote-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const CSV: CsvOptions = { delimiter: ',', quote: '"', escape: '"', skipHead: 0, comment: undefined };

/** Whether the record scan (misfit-records.ts), read whole, finds the file ending inside a quoted field. */
async function scanEndsInside(file: string, csv: CsvOptions): Promise<boolean> {
  try {
    const { misfits } = await leaveOutMisfits(file, `${file}.out`, csv, 1, 0, 'removed');
    return misfits.some((m) => m.why === 'open');
  } catch (err) {
    if (err instanceof UnclosedQuoteError) return true;
    throw err;
  }
}

/** Whether OpenQuote, fed the bytes in pieces cut at `cuts` (past a byte order mark, as files are read in pieces of megabytes), finds the file ending inside a quoted field. */
function hopsEndInside(bytes: Buffer, csv: CsvOptions, cuts: readonly number[]): boolean {
  const quotes = OpenQuote.of(csv)!;
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    quotes.feed(bytes.subarray(from, cut));
    from = cut;
  }
  return quotes.inside;
}

/** A small deterministic generator, so that a failure can be run again. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('whether a CSV file ends inside a quoted field, told from quote to quote', () => {
  test('as the record scan tells it', async () => {
    assert.equal(hopsEndInside(Buffer.from('a,"b\nc'), CSV, []), true);
    assert.equal(hopsEndInside(Buffer.from('a,"b\nc"\n'), CSV, []), false);
    assert.equal(hopsEndInside(Buffer.from('a,5" disk\n'), CSV, []), false);
    assert.equal(hopsEndInside(Buffer.from('a, "b\n'), CSV, []), true);
    assert.equal(hopsEndInside(Buffer.from('a,  "b\n'), CSV, []), false);
    assert.equal(hopsEndInside(Buffer.from('\uFEFF"a\n'), CSV, [3]), true);
    assert.equal(hopsEndInside(Buffer.from('"a""\n'), CSV, [3]), true);
    assert.equal(hopsEndInside(Buffer.from('"a\\"\n'), { ...CSV, escape: '\\' }, [3]), true);
  });

  const options: [string, CsvOptions][] = [
    ['quote " doubled', CSV],
    ['quote " escaped with \\', { ...CSV, escape: '\\' }],
    ["quote ' without escape, delimiter |", { ...CSV, delimiter: '|', quote: "'", escape: '' }],
    ['delimiter a space', { ...CSV, delimiter: ' ' }],
  ];
  for (const [name, csv] of options) {
    test(`${name}: random files, cut anywhere`, async () => {
      const next = random(name.length * 7919);
      const alphabet = ['a', 'b', csv.delimiter, csv.quote, csv.quote, csv.escape || 'x', ' ', ' ', '\n', '\r\n', '\r', '\t', '\0', 'é'];
      for (let k = 0; k < 1500; k++) {
        const text = Array.from({ length: 1 + Math.floor(next() * 30) }, () => alphabet[Math.floor(next() * alphabet.length)]!).join('');
        const bytes = Buffer.from((next() < 0.1 ? '\uFEFF' : '') + text);
        const file = path.join(dir, `${name.length}-${k}.csv`);
        writeFileSync(file, bytes);
        const cuts = [...new Set(Array.from({ length: Math.floor(next() * 4) }, () => 3 + Math.floor(next() * (bytes.length - 3))))].filter((cut) => cut < bytes.length).sort((a, b) => a - b);
        assert.equal(hopsEndInside(bytes, csv, cuts), await scanEndsInside(file, csv), `${JSON.stringify(bytes.toString('latin1'))} cut at ${cuts.join(', ')}`);
      }
    });
  }
});
