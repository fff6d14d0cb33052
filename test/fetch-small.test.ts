import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { loadConfig } from '../src/config/config.js';
import { SourceError } from '../src/errors.js';
import { DEFAULT_DECODE_CHECKED_FROM } from '../src/ingest/decompress.js';
import { fetchToFile } from '../src/ingest/fetch.js';
import { Sources } from '../src/sources/sources.js';
import type { Compression } from '../src/transform/model.js';

// Small objects are read whole and written in one call; larger ones stream. Both must give the same file.
const root = mkdtempSync(path.join(tmpdir(), 'inlet-fetch-small-'));
after(() => rmSync(root, { recursive: true, force: true }));
const sources = new Sources(loadConfig({}, { fileRoots: root, dataDir: path.join(root, 'data') }));
const decodeLimit = { maxRatio: 200, checkedFrom: DEFAULT_DECODE_CHECKED_FROM };

async function fetchBoth(name: string, bytes: Buffer): Promise<{ small: string; streamed: string }> {
  const file = path.join(root, name);
  writeFileSync(file, bytes);
  const url = pathToFileURL(file).href;
  const options = { attempts: 1, signal: new AbortController().signal, decodeLimit };
  const small = path.join(root, `${name}.small`);
  const streamed = path.join(root, `${name}.streamed`);
  const a = await fetchToFile(sources, url, 'gzip', small, { ...options, size: bytes.length });
  const b = await fetchToFile(sources, url, 'gzip', streamed, options);
  assert.equal(a.bytes, bytes.length);
  assert.equal(b.bytes, bytes.length);
  return { small, streamed };
}

test('a small gzip object decodes to the same file read whole as streamed', async () => {
  const text = Array.from({ length: 500 }, (_, i) => `{"n":${i}}`).join('\n') + '\n';
  const { small, streamed } = await fetchBoth('events.json.gz', gzipSync(text));
  assert.equal(readFileSync(small, 'utf8'), text);
  assert.equal(readFileSync(streamed, 'utf8'), text);
});

test('a small gzip object that decodes to more than the in-memory bound is decoded as a stream, whole', async () => {
  // Zeros compress a thousandfold: tens of kilobytes that decode to 20 MB.
  const text = Buffer.alloc(20 * 1024 * 1024, 0x30);
  const { small } = await fetchBoth('bomb.csv.gz', gzipSync(text));
  assert.equal(statSync(small).size, text.length);
});

test('an empty object is an empty file, a corrupt small gzip object fails with the reason', async () => {
  const { small } = await fetchBoth('empty.json.gz', Buffer.alloc(0));
  assert.equal(statSync(small).size, 0);
  const corrupt = gzipSync(`{"a":"${randomBytes(3000).toString('hex')}"}\n`);
  corrupt.set(randomBytes(40), 20);
  await assert.rejects(
    () => fetchBoth('corrupt.json.gz', corrupt),
    (err: unknown) => err instanceof SourceError && /could not be decompressed as gzip/.test(err.message),
  );
});

test('an object larger than it was listed is refused, not held whole', async () => {
  const file = path.join(root, 'grown.json.gz');
  writeFileSync(file, gzipSync(`{"a":"${randomBytes(2000).toString('hex')}"}\n`));
  const options = { attempts: 1, signal: new AbortController().signal, size: 100, decodeLimit };
  await assert.rejects(
    () => fetchToFile(sources, pathToFileURL(file).href, 'gzip', path.join(root, 'grown.out'), { ...options }),
    (err: unknown) => err instanceof SourceError && /changed after the job listed it \(listed: 100 bytes; now: more than 100 bytes\)/.test(err.message),
  );
});

test('a small object read whole is still checked against its compression, and an aborted read leaves no file', async () => {
  const file = path.join(root, 'plain-declared-gzip');
  writeFileSync(file, '{"a":1}\n');
  const url = pathToFileURL(file).href;
  const size = statSync(file).size;
  await assert.rejects(
    () => fetchToFile(sources, url, 'gzip', path.join(root, 'mislabelled.out'), { attempts: 1, signal: new AbortController().signal, size, decodeLimit }),
    (err: unknown) => err instanceof SourceError && /is not gzip data/.test(err.message),
  );
  const aborted = new AbortController();
  aborted.abort(new Error('task canceled'));
  const dest = path.join(root, 'aborted.out');
  await assert.rejects(() => fetchToFile(sources, url, 'gzip', dest, { attempts: 3, signal: aborted.signal, size, decodeLimit }), /task canceled/);
  assert.throws(() => statSync(dest), /ENOENT/);
});

test('a small plain local file the task may hold is read whole in place, up to its listed size, and one past it is refused', async () => {
  const file = path.join(root, 'events.json');
  const text = '{"a":1}\n{"a":2}\n';
  writeFileSync(file, text);
  const url = pathToFileURL(file).href;
  const signal = new AbortController().signal;
  const held = await fetchToFile(sources, url, 'none', path.join(root, 'unused'), { attempts: 1, signal, size: text.length, hold: () => true, decodeLimit });
  assert.equal(held.data?.toString(), text);
  assert.equal(held.path, file);
  assert.equal(held.inPlace, true);
  // Without room in the budget it is read where it is, as before.
  const unheld = await fetchToFile(sources, url, 'none', path.join(root, 'unused'), { attempts: 1, signal, size: text.length, hold: () => false, decodeLimit });
  assert.equal(unheld.data, undefined);
  assert.equal(unheld.bytes, text.length);
  await assert.rejects(
    () => fetchToFile(sources, url, 'none', path.join(root, 'unused'), { attempts: 1, signal, size: 5, hold: () => true, decodeLimit }),
    (err: unknown) => err instanceof SourceError && /listed: 5 bytes; now: more than 5 bytes/.test(err.message),
  );
});

test('an object that decodes to far more than its size is refused as a decompression bomb, read whole, streamed or spooled; ordinary data is not', async () => {
  // A bound of 50 times from 1 MiB decoded: 8 MiB of one byte compresses about a thousandfold.
  const limit = { maxRatio: 50, checkedFrom: 1024 * 1024 };
  const zeros = Buffer.alloc(8 * 1024 * 1024, 0x30);
  const logs = Buffer.from(Array.from({ length: 100_000 }, (_, i) => `{"ts":${1_700_000_000_000 + i * 37},"host":"h${i % 7}","bytes":${(i * 7919) % 100_000}}`).join('\n'));
  const cases: [string, Compression, (b: Buffer) => Buffer][] = [
    ['gz', 'gzip', gzipSync],
    ['deflate', 'deflate', deflateRawSync],
    ['zlib', 'zlib', deflateSync],
  ];
  for (const [extension, compression, compress] of cases) {
    const bomb = path.join(root, `bomb-limit.json.${extension}`);
    writeFileSync(bomb, compress(zeros));
    const size = statSync(bomb).size;
    for (const whole of [true, false]) {
      const dest = path.join(root, `bomb-limit-${extension}-${whole}.out`);
      await assert.rejects(
        () => fetchToFile(sources, pathToFileURL(bomb).href, compression, dest, { attempts: 3, signal: new AbortController().signal, decodeLimit: limit, ...(whole ? { size } : {}) }),
        (err: unknown) => err instanceof SourceError && /decodes to more than 50 times its size .* decompression bomb; if it is real data, raise INLET_MAX_DECODE_RATIO/.test(err.message),
        `${compression}${whole ? ', read whole' : ''}`,
      );
      assert.ok(!existsSync(dest), 'nothing of it is left');
    }
    const real = path.join(root, `logs-limit.json.${extension}`);
    writeFileSync(real, compress(logs));
    const dest = path.join(root, `logs-limit-${extension}.out`);
    await fetchToFile(sources, pathToFileURL(real).href, compression, dest, { attempts: 1, signal: new AbortController().signal, decodeLimit: limit });
    assert.equal(statSync(dest).size, logs.length, `${compression}: ordinary logs load`);
  }
});

test("a truncated or corrupt xz object fails with what is wrong with it, not the decoder's error code", async () => {
  const whole = readFileSync(new URL('./fixtures/transform/cdn-access.log.xz', import.meta.url));
  const cases: [string, Buffer, RegExp][] = [
    ['truncated.log.xz', whole.subarray(0, Math.floor(whole.length / 2)), /could not be decompressed as xz: ends before its xz stream does: the object is truncated/],
    ['corrupt.log.xz', Buffer.concat([whole.subarray(0, 40), Buffer.alloc(whole.length - 40, 0x55)]), /could not be decompressed as xz: is corrupt/],
  ];
  for (const [name, bytes, reason] of cases) {
    const file = path.join(root, name);
    writeFileSync(file, bytes);
    await assert.rejects(
      () => fetchToFile(sources, pathToFileURL(file).href, 'xz', path.join(root, `${name}.out`), { attempts: 1, signal: new AbortController().signal, decodeLimit }),
      (err: unknown) => err instanceof SourceError && reason.test(err.message) && !/get_next_output/.test(err.message),
      name,
    );
  }
});
