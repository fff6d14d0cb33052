import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

export const START = '2024-01-01 00:00:00';

/**
 * Web-log rows made by DuckDB: one every `stepMs` from START; about 3 % are bad (1 in 53 has a
 * timestamp that does not parse, 1 in 71 a status that is not a number).
 */
function rowsSql(from: number, to: number, stepMs: number): string {
  return `SELECT
      CASE WHEN i % 53 = 0 THEN 'not-a-time' ELSE strftime(TIMESTAMP '${START}' + to_milliseconds(i * ${stepMs}), '%Y-%m-%d %H:%M:%S') END AS timestamp,
      ['www.example.com', 'api.example.com', 'cdn.example.com', 'shop.example.com'][1 + i % 4] AS host,
      ['GET', 'GET', 'GET', 'POST', 'PUT'][1 + i % 5] AS method,
      '/catalog/' || (hash(i) % 1000)::VARCHAR || '/item?id=' || (i % 9973)::VARCHAR AS path,
      CASE WHEN i % 71 = 0 THEN 'oops' ELSE ([200, 200, 200, 200, 301, 304, 404, 500][1 + (hash(i * 7) % 8)::BIGINT])::VARCHAR END AS status,
      (hash(i * 3) % 100000)::BIGINT AS bytes,
      round((hash(i * 5) % 100000) / 100.0, 2) AS latency_ms,
      ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
       'curl/8.4.0',
       'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148'][1 + i % 3] AS user_agent
    FROM range(${from}, ${to}) t(i)`;
}

export interface Generated {
  readonly files: string[];
  readonly rows: number;
  readonly badRows: number;
}

const badRows = (from: number, to: number) => {
  let bad = 0;
  for (let i = from; i < to; i++) if (i % 53 === 0 || i % 71 === 0) bad++;
  return bad;
};

/** `files` gzipped CSV files with a header, `rowsPerFile` rows each. */
export async function generateCsvGz(dir: string, files: number, rowsPerFile: number, stepMs = 50): Promise<Generated> {
  mkdirSync(dir, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const out: string[] = [];
  for (let f = 0; f < files; f++) {
    const file = path.join(dir, `access-${String(f).padStart(3, '0')}.csv.gz`);
    await connection.run(`COPY (${rowsSql(f * rowsPerFile, (f + 1) * rowsPerFile, stepMs)}) TO '${file}' (HEADER, COMPRESSION gzip)`);
    out.push(file);
  }
  connection.closeSync();
  instance.closeSync();
  return { files: out, rows: files * rowsPerFile, badRows: badRows(0, files * rowsPerFile) };
}

const COLUMNS = ['timestamp', 'host', 'method', 'path', 'status', 'bytes', 'latency_ms', 'user_agent'];

/**
 * Many small files (objects of 2-8 KB, 5 KB on average), written as `<dir>/<key>`; keys spread
 * over folders as logs are. NDJSON, or CSV with a header line (fields quoted where they hold a
 * comma, as the user agents do), of the same rows.
 */
export async function generateSmallFiles(dir: string, files: number, format: 'json' | 'csv' = 'json', stepMs = 1000): Promise<Generated & { keys: string[] }> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const perFile = (f: number) => 8 + (f % 25); // 8..32 rows of ~250 bytes: 2-8 KB, 5 KB on average
  let total = 0;
  const starts: number[] = [];
  for (let f = 0; f < files; f++) {
    starts.push(total);
    total += perFile(f);
  }
  const field = (name: string) => `CASE WHEN strpos(r.${name}::VARCHAR, ',') > 0 THEN '"' || replace(r.${name}::VARCHAR, '"', '""') || '"' ELSE r.${name}::VARCHAR END`;
  const line = format === 'json' ? 'to_json(r)::VARCHAR' : COLUMNS.map(field).join(` || ',' || `);
  const reader = await connection.runAndReadAll(`SELECT ${line} AS line FROM (${rowsSql(0, total, stepMs)}) r`);
  const lines = reader.getColumnsJS()[0] as string[];
  const keys: string[] = [];
  const out: string[] = [];
  for (let f = 0; f < files; f++) {
    const key = `events/${String(Math.floor(f / 1000)).padStart(3, '0')}/batch-${String(f).padStart(6, '0')}.${format}`;
    const file = path.join(dir, key);
    mkdirSync(path.dirname(file), { recursive: true });
    const header = format === 'csv' ? `${COLUMNS.join(',')}\n` : '';
    writeFileSync(file, header + lines.slice(starts[f], starts[f]! + perFile(f)).join('\n') + '\n');
    keys.push(key);
    out.push(file);
  }
  connection.closeSync();
  instance.closeSync();
  return { files: out, keys, rows: total, badRows: badRows(0, total) };
}

const column = (name: string, datatype: Record<string, unknown>) => ({ name, datatype });

/** The transform of the generated logs, for CSV (by position) or JSON (by field). */
export function weblogTransform(type: 'csv' | 'json') {
  const source = (index: number, field: string) => (type === 'csv' ? { from_input_index: index } : { from_input_field: field });
  return {
    name: `weblog_${type}`,
    type,
    settings: {
      compression: 'none',
      ...(type === 'csv' ? { format_details: { skip_head: 1 } } : {}),
      output_columns: [
        column('timestamp', { type: 'datetime', primary: true, format: '2006-01-02 15:04:05', source: source(0, 'timestamp') }),
        column('host', { type: 'string', source: source(1, 'host') }),
        column('method', { type: 'string', source: source(2, 'method') }),
        column('path', { type: 'string', source: source(3, 'path') }),
        column('status', { type: 'uint32', source: source(4, 'status') }),
        column('bytes', { type: 'int64', source: source(5, 'bytes') }),
        column('latency_ms', { type: 'double', source: source(6, 'latency_ms') }),
        column('user_agent', { type: 'string', source: source(7, 'user_agent') }),
      ],
    },
  };
}

/** What DuckDB alone does for the same conversion: the baseline's SELECT list over VARCHAR columns. */
export const BASELINE_CONVERSIONS = `
  date_trunc('second', try_strptime(timestamp, '%Y-%m-%d %H:%M:%S')) AS timestamp, host, method, path,
  try_cast(status AS UINTEGER) AS status, try_cast(bytes AS BIGINT) AS bytes,
  try_cast(latency_ms AS DOUBLE) AS latency_ms, user_agent`;
export const BASELINE_FILTER = `try_strptime(timestamp, '%Y-%m-%d %H:%M:%S') IS NOT NULL AND try_cast(status AS UINTEGER) IS NOT NULL`;

/** Plain CSV files totalling about `targetBytes` (≈ 215 bytes a row), for the memory scenario. */
export async function generatePlainCsv(dir: string, targetBytes: number, files = 10): Promise<Generated> {
  mkdirSync(dir, { recursive: true });
  const rowsPerFile = Math.ceil(targetBytes / 215 / files);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const out: string[] = [];
  for (let f = 0; f < files; f++) {
    const file = path.join(dir, `plain-${String(f).padStart(3, '0')}.csv`);
    await connection.run(`COPY (${rowsSql(f * rowsPerFile, (f + 1) * rowsPerFile, 10)}) TO '${file}' (HEADER)`);
    out.push(file);
  }
  connection.closeSync();
  instance.closeSync();
  return { files: out, rows: files * rowsPerFile, badRows: badRows(0, files * rowsPerFile) };
}
