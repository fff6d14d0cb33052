import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import { utf8Of, Utf8Text } from '../src/ingest/text-encoding.js';
import { CSV_TRANSFORM, JSON_TRANSFORM, referenceJob } from './helpers/data.js';
import { createWebsiteEvents, startInlet, type TestInlet } from './helpers/inlet.js';
import { startLocalS3, type LocalS3 } from './helpers/s3.js';
import { throughPieces } from './helpers/streams.js';

const HEADER = 'timestamp,host,status,bytes,latency,cached';
/** Hosts outside ASCII, one of them outside the Basic Multilingual Plane (a surrogate pair in UTF-16). */
const HOSTS = ['héllo.example.com', 'δοκιμή.example.com', '😀.example.com', 'a.example.com'];
const row = (i: number) =>
  `2024-01-01 ${String(Math.floor(i / 3600) % 24).padStart(2, '0')}:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')},${HOSTS[i % HOSTS.length]},200,1,0.5,true`;
const csvText = (rows: number) => `${HEADER}\n${Array.from({ length: rows }, (_, i) => row(i)).join('\r\n')}\n`;

const LE_MARK = Buffer.from([0xff, 0xfe]);
const utf16le = (text: string) => Buffer.concat([LE_MARK, Buffer.from(text, 'utf16le')]);
const utf16be = (text: string) => {
  const bytes = utf16le(text);
  return bytes.swap16();
};

const streamed = (input: Buffer, pieceBytes: number) => throughPieces(new Utf8Text('s3://b/x.csv'), input, pieceBytes);

describe('UTF-16 text read as UTF-8', () => {
  const text = csvText(50);

  test('a UTF-16 text with its byte order mark becomes UTF-8 without it, whole or in pieces of any size (split characters and surrogate pairs too)', async () => {
    for (const encoded of [utf16le(text), utf16be(text)]) {
      assert.equal(utf8Of(encoded, 'x').toString('utf8'), text);
      for (const piece of [1, 2, 3, 5, 4096]) assert.equal((await streamed(encoded, piece)).toString('utf8'), text, `pieces of ${piece}`);
    }
  });

  test('a UTF-16 text without a mark is told by the NUL bytes of its first ASCII characters', async () => {
    const json = '{"a":1}\n';
    const cases: [Buffer, string][] = [
      [Buffer.from(text, 'utf16le'), text],
      [Buffer.from(text, 'utf16le').swap16(), text],
      [Buffer.from(json, 'utf16le'), json],
    ];
    for (const [encoded, expected] of cases) {
      assert.equal(utf8Of(encoded, 'x').toString('utf8'), expected);
      for (const piece of [1, 3, 4096]) assert.equal((await streamed(encoded, piece)).toString('utf8'), expected, `pieces of ${piece}`);
    }
  });

  test('anything else passes untouched: UTF-8 with or without its mark, Latin-1, short and empty texts', async () => {
    // A NUL in the first bytes of UTF-8 text is no UTF-16 unless it follows (or leads) each of two ASCII characters.
    const nuls = [Buffer.from('a\0\0\0b\n'), Buffer.from('ab\0\0\n'), Buffer.from('\0\0a\n'), Buffer.from([0xc3, 0, 0xa9, 0])];
    const others = [Buffer.from(text), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]), Buffer.from('caf\xe9\n', 'latin1'), Buffer.from('a'), Buffer.from('ab\n'), Buffer.alloc(0), ...nuls];
    for (const bytes of others) {
      assert.equal(utf8Of(bytes, 'x'), bytes);
      for (const piece of [1, 3, 4096]) assert.deepEqual(await streamed(bytes, piece), bytes);
    }
    // A file of a mark alone, or a mark and half a character, is short but still UTF-16.
    assert.deepEqual(await streamed(LE_MARK, 1), Buffer.alloc(0));
    assert.equal((await streamed(Buffer.from([0xff, 0xfe, 0x41]), 1)).toString('utf8'), '\ufffd');
  });

  test('UTF-32 fails with the encoding named and the fix', async () => {
    const utf32le = Buffer.from([0xff, 0xfe, 0, 0, 0x41, 0, 0, 0]);
    const utf32be = Buffer.from([0, 0, 0xfe, 0xff, 0, 0, 0, 0x41]);
    for (const bytes of [utf32le, utf32be]) {
      assert.throws(() => utf8Of(bytes, 's3://b/x.csv'), /s3:\/\/b\/x\.csv is UTF-32 text .*iconv -f UTF-32 -t UTF-8/);
      await assert.rejects(streamed(bytes, 1), /is UTF-32 text/);
    }
  });
});

describe('jobs over UTF-16 files', () => {
  let s3: LocalS3;
  let inlet: TestInlet;
  let root: string;
  before(async () => {
    s3 = await startLocalS3();
    await s3.createBucket('enc');
    root = mkdtempSync(path.join(tmpdir(), 'inlet-encoding-'));
    inlet = await startInlet({ s3Endpoint: s3.endpoint, fileRoots: root });
    await createWebsiteEvents(inlet.api, [CSV_TRANSFORM, JSON_TRANSFORM]);
  });
  after(async () => {
    await inlet?.stop();
    await s3?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  async function run(url: string, transform?: string) {
    const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob(`encoding ${url}`, url, { transform }));
    assert.equal(created.status, 200, created.text);
    return inlet.api.waitForJob(created.body.uuid, undefined, 120_000);
  }

  test('CSV and NDJSON in UTF-16 load every row with its text intact: small and large, plain, gzip and deflate, over S3 and file://', async () => {
    // Large enough to be streamed in many pieces rather than read whole.
    const rows = 20_000;
    const large = csvText(rows);
    const small = csvText(40);
    const files: [string, Buffer][] = [
      ['small-le.csv', utf16le(small)],
      ['small-be.csv.gz', gzipSync(utf16be(small))],
      ['large-le.csv', utf16le(large)],
      ['large-be.csv.gz', gzipSync(utf16be(large))],
      ['large-le.csv.zz', deflateSync(utf16le(large))],
      ['small-nomark-le.csv', Buffer.from(small, 'utf16le')],
    ];
    for (const [name, bytes] of files) await s3.put('enc', `csv/${name}`, bytes);
    mkdirSync(path.join(root, 'csv'));
    writeFileSync(path.join(root, 'csv', 'small-le.csv'), utf16le(small));
    writeFileSync(path.join(root, 'csv', 'large-be.csv'), utf16be(large));
    writeFileSync(path.join(root, 'csv', 'small-nomark-be.csv'), Buffer.from(small, 'utf16le').swap16());
    const total = 40 + 40 + 3 * rows + 40 + 40 + rows + 40;
    for (const url of ['s3://enc/csv/', `file://${root}/csv/`]) {
      const done = await run(url);
      assert.equal(done.status, 'done', JSON.stringify(done.details));
      assert.equal(done.details.rows.rejected, 0, JSON.stringify(done.details.files));
    }
    const hosts = await inlet.api.query('SELECT host, count() FROM website.events GROUP BY host ORDER BY host FORMAT TSV');
    const perHost = total / HOSTS.length;
    assert.equal(
      hosts.text,
      [...HOSTS]
        .sort()
        .map((h) => `${h}\t${perHost}\n`)
        .join(''),
    );

    const ndjson = `${JSON.stringify({ ts: Date.UTC(2024, 0, 2), host: 'ünïcode.example.com', status: 200, bytes: 1, latency: 0.5, cached: true })}\n`;
    await s3.put('enc', 'json/a.json', utf16le(ndjson));
    const done = await run('s3://enc/json/', 'ndjson');
    assert.deepEqual(done.details.rows, { read: 1, written: 1, rejected: 0 });
    assert.equal((await inlet.api.query(`SELECT host FROM website.events WHERE host LIKE 'ü%' FORMAT TSV`)).text, 'ünïcode.example.com\n');
  });

  test('a UTF-32 file fails its task (as any unreadable file does) with the reason, not as rows of noise', async () => {
    await s3.put('enc', 'utf32/a.csv', Buffer.concat([Buffer.from([0xff, 0xfe, 0, 0]), Buffer.from(csvText(3), 'utf16le')]));
    const done = await run('s3://enc/utf32/');
    assert.equal(done.status, 'failed');
    assert.deepEqual(done.details.rows, { read: 0, written: 0, rejected: 0 });
    assert.match(done.details.files[0]?.error ?? '', /s3:\/\/enc\/utf32\/a\.csv is UTF-32 text .*convert it first/);
  });
});
