import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { csvOf, logRows } from './helpers/data.js';
import { startWithEvents, type TestInlet } from './helpers/inlet.js';

// ClickHouse SQL as dashboards send it, answered as ClickHouse documents it.
// 6000 rows, one every 10 seconds from 2024-01-01 00:00 (to 16:39:50): hosts a, b, c in turn;
// status 200, 404, 500 in turn; bytes 1000..6999, all distinct.
const ROWS = 6000;
let inlet: TestInlet;
let stop: () => Promise<void>;

before(async () => {
  ({ inlet, stop } = await startWithEvents('sqlcompat', csvOf(logRows(ROWS, Date.UTC(2024, 0, 1), 10))));
});
after(async () => stop?.());

const tsv = async (sql: string) => {
  const result = await inlet.api.query(sql);
  assert.equal(result.status, 200, `${sql}\n${result.text}`);
  return result.text;
};

describe('aliases, as ClickHouse resolves them everywhere', () => {
  test('GROUP BY and ORDER BY an alias of a function of a column', async () => {
    const text = await tsv("SELECT toStartOfHour(timestamp) AS h, count() FROM website.events WHERE timestamp < '2024-01-01 03:00:00' GROUP BY h ORDER BY h");
    assert.equal(text, '2024-01-01 00:00:00\t360\n2024-01-01 01:00:00\t360\n2024-01-01 02:00:00\t360\n');
  });

  test('an alias named like the column it is computed from means the alias', async () => {
    const text = await tsv("SELECT toStartOfHour(timestamp) AS timestamp, count() AS c FROM website.events WHERE timestamp < '2024-01-01 02:00:00' GROUP BY timestamp ORDER BY timestamp");
    assert.equal(text, '2024-01-01 00:00:00\t360\n2024-01-01 01:00:00\t360\n');
  });

  test('an alias used in WHERE and in another expression', async () => {
    const text = await tsv('SELECT bytes * 2 AS double_bytes, double_bytes + 1 AS plus_one FROM website.events WHERE double_bytes < 2004 ORDER BY double_bytes');
    assert.equal(text, '2000\t2001\n2002\t2003\n');
  });
});

describe('backtick identifiers', () => {
  test('names, qualified names and aliases in backticks', async () => {
    const text = await tsv('SELECT `host` AS `the host`, count() AS `n` FROM `website`.`events` GROUP BY `the host` ORDER BY `the host` LIMIT 1');
    assert.equal(text, 'a.example.com\t2000\n');
  });
});

describe('uniq and uniqExact', () => {
  test('uniq is exact, as ClickHouse allows (its error is up to about 2 %)', async () => {
    assert.equal(await tsv('SELECT uniq(bytes), uniqExact(bytes) FROM website.events'), `${ROWS}\t${ROWS}\n`);
  });

  test('several arguments count distinct tuples', async () => {
    assert.equal(await tsv('SELECT uniqExact(host, status), uniq(host, status), uniqExact(host, status, bytes % 2) FROM website.events'), '3\t3\t6\n');
  });
});

describe('FORMAT JSON meta', () => {
  test('count() is UInt64, written as a string', async () => {
    const result = await inlet.api.query('SELECT count() FROM website.events FORMAT JSON');
    assert.deepEqual(result.body.meta, [{ name: 'count()', type: 'UInt64' }]);
    assert.deepEqual(result.body.data, [{ 'count()': String(ROWS) }]);
  });
});

describe("Grafana's ClickHouse data source", () => {
  test('time series: $__timeInterval and $__timeFilter as the plugin expands them', async () => {
    const from = Date.UTC(2024, 0, 1) / 1000;
    const text = await tsv(
      `SELECT toStartOfInterval(toDateTime(timestamp), INTERVAL 20 minute) as time, count(*) as c FROM website.events WHERE timestamp >= toDateTime(${from}) AND timestamp <= toDateTime(${from + 3599}) GROUP BY time ORDER BY time ASC`,
    );
    assert.equal(text, '2024-01-01 00:00:00\t120\n2024-01-01 00:20:00\t120\n2024-01-01 00:40:00\t120\n');
  });

  test('milliseconds: $__timeFilter_ms and $__timeInterval_ms', async () => {
    const from = Date.UTC(2024, 0, 1);
    const text = await tsv(
      `SELECT toStartOfInterval(toDateTime64(timestamp, 3), INTERVAL 30 minute) as time, countIf(status = 500) as errors FROM website.events WHERE timestamp >= fromUnixTimestamp64Milli(${from}) AND timestamp <= fromUnixTimestamp64Milli(${from + 3_599_999}) GROUP BY time ORDER BY time`,
    );
    assert.equal(text, '2024-01-01 00:00:00\t60\n2024-01-01 00:30:00\t60\n');
  });

  test('logs volume: conditional sums by level', async () => {
    const text = await tsv(
      "SELECT toStartOfInterval(timestamp, INTERVAL 1 hour) as time, sum(multiSearchAny(toString(status), ['500','503'])) as error, sum(toString(status) IN ('200')) as info FROM website.events WHERE timestamp < '2024-01-01 01:00:00' GROUP BY time ORDER BY time",
    );
    assert.equal(text, '2024-01-01 00:00:00\t120\t120\n');
  });
});
