import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { START } from './weblogs.js';

/** Inlet's default `max_minutes_per_partition`: the width of a time window. */
const WINDOW_MINUTES = 15;
const FILES_PER_SHAPE = 4;

type Format = 'csv' | 'json';
type Compression = 'gzip' | 'zstd';
/** How the primary timestamp is written: a Go layout, or epoch seconds / milliseconds. */
type Time = 'layout' | 'zoned' | 'epoch-s' | 'epoch-ms';

/** One shape of data: what the files hold and how each side converts them. */
export interface Shape {
  /** Short name, also the S3 prefix and the table's name. */
  readonly slug: string;
  readonly label: string;
  readonly format: Format;
  readonly compression: Compression;
  readonly time: Time;
  /** 40 columns instead of 4. */
  readonly wide: boolean;
  /** Time windows the rows span. */
  readonly windows: number;
  /** One row in this many has a timestamp that does not parse (0: none). */
  readonly rejectOneIn: number;
  /**
   * Each file ends in a record short of a field: the reader refuses it, and it is the last
   * record, where Inlet's strict first read finds it after reading all the others.
   */
  readonly shortLast: boolean;
}

const base = { format: 'csv', compression: 'gzip', time: 'layout', wide: false, windows: 20, rejectOneIn: 0, shortLast: false } as const;

/** The matrix: a narrow CSV base, each other shape changing one thing about it. */
export const SHAPES: readonly Shape[] = [
  { ...base, slug: 'narrow', label: 'CSV, 4 columns' },
  { ...base, slug: 'wide', label: 'CSV, 40 columns', wide: true },
  { ...base, slug: 'nested', label: 'NDJSON, nested fields read by JSON pointers', format: 'json' },
  { ...base, slug: 'zoned', label: 'Go layout with zone offsets and milliseconds', time: 'zoned' },
  { ...base, slug: 'epoch_s', label: 'epoch seconds', time: 'epoch-s' },
  { ...base, slug: 'epoch_ms', label: 'epoch milliseconds', time: 'epoch-ms' },
  { ...base, slug: 'one_window', label: '1 time window', windows: 1 },
  { ...base, slug: 'many_windows', label: '500 time windows', windows: 500 },
  { ...base, slug: 'sparse_windows', label: '20,000 time windows (sparse history)', windows: 20_000 },
  { ...base, slug: 'rejects', label: '5 % rejected rows', rejectOneIn: 20 },
  { ...base, slug: 'zstd', label: 'zstd instead of gzip', compression: 'zstd' },
  { ...base, slug: 'short_last', label: 'a record short of a field closing each file', shortLast: true },
];

const WIDE_EACH = 13; // strings, integers and doubles each: 1 + 3 × 13 = 40 columns
const wideNames = (prefix: string) => Array.from({ length: WIDE_EACH }, (_, k) => `${prefix}${k + 1}`);

/** Zone offsets (minutes east of UTC) the zoned shape cycles through, and how Go writes them. */
const ZONES = [
  { minutes: 60, text: '+01:00' },
  { minutes: -300, text: '-05:00' },
  { minutes: 0, text: '+00:00' },
  { minutes: 330, text: '+05:30' },
];

function timestampText(shape: Shape, ts: string): string {
  switch (shape.time) {
    case 'layout':
      return `strftime(${ts}, '%Y-%m-%d %H:%M:%S')`;
    case 'zoned': {
      const zone = (field: 'minutes' | 'text') => `[${ZONES.map((z) => (field === 'text' ? `'${z.text}'` : z.minutes)).join(', ')}][1 + i % ${ZONES.length}]`;
      return `strftime(${ts} + to_minutes(${zone('minutes')}), '%Y-%m-%dT%H:%M:%S.%g') || ${zone('text')}`;
    }
    case 'epoch-s':
      return `epoch(${ts})::BIGINT::VARCHAR`;
    case 'epoch-ms':
      return `epoch_ms(${ts})::VARCHAR`;
  }
}

/** The rows of a shape, as DuckDB makes them: row i at START + i × step, spread evenly over the windows. */
function rowsSql(shape: Shape, from: number, to: number, total: number): string {
  const stepUs = Math.floor((shape.windows * WINDOW_MINUTES * 60e6) / total);
  const ts = `(TIMESTAMP '${START}' + to_microseconds((i * ${stepUs})::BIGINT))`;
  const time = shape.rejectOneIn ? `CASE WHEN i % ${shape.rejectOneIn} = 0 THEN 'not-a-time' ELSE ${timestampText(shape, ts)} END` : timestampText(shape, ts);
  const host = `['www.example.com', 'api.example.com', 'cdn.example.com', 'shop.example.com'][1 + i % 4]`;
  const status = `[200, 200, 200, 200, 301, 304, 404, 500][1 + (hash(i * 7) % 8)::BIGINT]`;
  const bytes = `(hash(i * 3) % 100000)::BIGINT`;
  const wide = shape.wide
    ? [
        ...wideNames('s').map((n, k) => `'v' || (hash(i * ${k + 11}) % 1000)::VARCHAR AS ${n}`),
        ...wideNames('n').map((n, k) => `(hash(i * ${k + 31}) % 1000000)::BIGINT AS ${n}`),
        ...wideNames('d').map((n, k) => `round((hash(i * ${k + 51}) % 100000) / 100.0, 2) AS ${n}`),
      ].join(', ')
    : '';
  if (shape.format === 'json') {
    return `SELECT ${time} AS ts, {'host': ${host}, 'status': ${status}} AS req, {'bytes': ${bytes}, 'tags': ['edge', 'v2']} AS resp FROM range(${from}, ${to}) t(i)`;
  }
  return `SELECT ${time} AS timestamp, ${host} AS host, ${status} AS status, ${bytes} AS bytes${wide ? `, ${wide}` : ''} FROM range(${from}, ${to}) t(i)`;
}

export interface ShapeData {
  readonly files: string[];
  readonly rows: number;
  readonly rejected: number;
}

/** Writes a shape's files (FILES_PER_SHAPE of them, `rows` in all) under `dir`. */
export async function generateShape(shape: Shape, dir: string, rows: number): Promise<ShapeData> {
  mkdirSync(dir, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const files: string[] = [];
  const perFile = Math.ceil(rows / FILES_PER_SHAPE);
  const extension = `${shape.format}.${shape.compression === 'gzip' ? 'gz' : 'zst'}`;
  for (let f = 0; f < FILES_PER_SHAPE; f++) {
    const file = path.join(dir, `part-${f}.${extension}`);
    const options = shape.format === 'json' ? `FORMAT json, COMPRESSION ${shape.compression}` : `HEADER, COMPRESSION ${shape.compression}`;
    const select = rowsSql(shape, f * perFile, Math.min(rows, (f + 1) * perFile), rows);
    // The short record is the file's last line: the rows are written as lines of text, then it, unquoted.
    const lines =
      `SELECT line FROM (SELECT 0 AS k, 0 AS n, 'timestamp,host,status,bytes' AS line UNION ALL ` +
      `SELECT 1, row_number() OVER (), concat_ws(',', *COLUMNS(*)) FROM (${select}) UNION ALL SELECT 2, 0, '2024-01-01 00:00:00,short') ORDER BY k, n`;
    if (shape.shortLast) await connection.run(`COPY (${lines}) TO '${file}' (HEADER false, QUOTE '', ESCAPE '', DELIMITER '\x01', COMPRESSION ${shape.compression})`);
    else await connection.run(`COPY (${select}) TO '${file}' (${options})`);
    files.push(file);
  }
  connection.closeSync();
  instance.closeSync();
  const short = shape.shortLast ? FILES_PER_SHAPE : 0;
  return { files, rows: rows + short, rejected: (shape.rejectOneIn ? Math.ceil(rows / shape.rejectOneIn) : 0) + short };
}

const column = (name: string, datatype: Record<string, unknown>) => ({ name, datatype });

function timeDatatype(shape: Shape): Record<string, unknown> {
  switch (shape.time) {
    case 'layout':
      return { type: 'datetime', format: '2006-01-02 15:04:05' };
    case 'zoned':
      return { type: 'datetime64', format: '2006-01-02T15:04:05.000-07:00' };
    case 'epoch-s':
      return { type: 'epoch', format: 's' };
    case 'epoch-ms':
      return { type: 'epoch', format: 'ms', resolution: 'ms' };
  }
}

/** The shape's Inlet transform. */
export function shapeTransform(shape: Shape) {
  const csv = (index: number) => ({ from_input_index: index });
  const columns =
    shape.format === 'json'
      ? [
          column('timestamp', { ...timeDatatype(shape), primary: true, source: { from_input_field: 'ts' } }),
          column('host', { type: 'string', source: { from_json_pointers: ['/req/host'] } }),
          column('status', { type: 'uint32', source: { from_json_pointers: ['/req/status'] } }),
          column('bytes', { type: 'int64', source: { from_json_pointers: ['/resp/bytes'] } }),
          column('first_tag', { type: 'string', source: { from_json_pointers: ['/resp/tags/0'] } }),
        ]
      : [
          column('timestamp', { ...timeDatatype(shape), primary: true, source: csv(0) }),
          column('host', { type: 'string', source: csv(1) }),
          column('status', { type: 'uint32', source: csv(2) }),
          column('bytes', { type: 'int64', source: csv(3) }),
          ...(shape.wide
            ? [
                ...wideNames('s').map((n, k) => column(n, { type: 'string', source: csv(4 + k) })),
                ...wideNames('n').map((n, k) => column(n, { type: 'int64', source: csv(4 + WIDE_EACH + k) })),
                ...wideNames('d').map((n, k) => column(n, { type: 'double', source: csv(4 + 2 * WIDE_EACH + k) })),
              ]
            : []),
        ];
  return {
    name: `t_${shape.slug}`,
    type: shape.format,
    settings: { compression: shape.compression, ...(shape.format === 'csv' ? { format_details: { skip_head: 1 } } : {}), output_columns: columns },
  };
}

/** What DuckDB alone does to read a value the way the transform's timestamp column does. */
function timeSql(shape: Shape, raw: string): string {
  switch (shape.time) {
    case 'layout':
      return `date_trunc('second', try_strptime(${raw}, '%Y-%m-%d %H:%M:%S'))`;
    case 'zoned':
      return `date_trunc('millisecond', timezone('UTC', try_strptime(${raw}, '%Y-%m-%dT%H:%M:%S.%g%z')))`;
    case 'epoch-s':
      return `date_trunc('second', make_timestamp((try_cast(${raw} AS DOUBLE) * 1e6)::BIGINT))`;
    case 'epoch-ms':
      return `date_trunc('millisecond', make_timestamp((try_cast(${raw} AS DOUBLE) * 1e3)::BIGINT))`;
  }
}

/**
 * DuckDB alone on the same files, in two statements so each stage is timed: read and convert
 * into a table (rejected rows left out), then sort it by time and write the zstd Parquet files
 * of its time windows into the directory `out` (which must exist).
 */
export function baselineSql(shape: Shape, files: readonly string[], out: string): string {
  const list = files.map((f) => `'${f}'`).join(', ');
  let select: string;
  let typed: string[];
  if (shape.format === 'json') {
    const columns = `{ts: 'VARCHAR', req: 'STRUCT(host VARCHAR, status VARCHAR)', resp: 'STRUCT(bytes VARCHAR, tags VARCHAR[])'}`;
    select =
      `SELECT ${timeSql(shape, 'ts')} AS timestamp, req.host AS host, try_cast(req.status AS UINTEGER) AS status, ` +
      `try_cast(resp.bytes AS BIGINT) AS bytes, resp.tags[1] AS first_tag FROM read_json([${list}], format='newline_delimited', columns=${columns})`;
    typed = ['timestamp', 'status', 'bytes'];
  } else {
    const names = ['timestamp', 'host', 'status', 'bytes', ...(shape.wide ? [...wideNames('s'), ...wideNames('n'), ...wideNames('d')] : [])];
    const columns = `{${names.map((n) => `'${n}': 'VARCHAR'`).join(', ')}}`;
    const conversions = [
      `${timeSql(shape, 'timestamp')} AS timestamp`,
      'host',
      'try_cast(status AS UINTEGER) AS status',
      'try_cast(bytes AS BIGINT) AS bytes',
      ...(shape.wide ? [...wideNames('s'), ...wideNames('n').map((n) => `try_cast(${n} AS BIGINT) AS ${n}`), ...wideNames('d').map((n) => `try_cast(${n} AS DOUBLE) AS ${n}`)] : []),
    ];
    // A record the reader refuses is left out, as Inlet rejects it.
    select = `SELECT ${conversions.join(', ')} FROM read_csv([${list}], header=true, columns=${columns}${shape.shortLast ? ', ignore_errors=true' : ''})`;
    typed = ['timestamp', 'status', 'bytes', ...(shape.wide ? [...wideNames('n'), ...wideNames('d')] : [])];
  }
  // A value that does not convert rejects its row, as in Inlet. The write makes Inlet's files:
  // one per time window, by DuckDB's partitioned writer (the window column left out) after the
  // sort, though that writer does not promise to keep the order inside a file as Inlet does.
  // One window is one plain COPY, which that writer is slower at.
  const write =
    shape.windows > 1
      ? `COPY (SELECT *, epoch_ms(timestamp) // ${WINDOW_MINUTES * 60_000} AS time_window FROM converted ORDER BY timestamp) TO '${out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (time_window), OVERWRITE)`
      : `COPY (SELECT * FROM converted ORDER BY timestamp) TO '${path.join(out, 'data_0.parquet')}' (FORMAT parquet, COMPRESSION zstd)`;
  return `CREATE TABLE converted AS SELECT * FROM (${select}) WHERE ${typed.map((c) => `${c} IS NOT NULL`).join(' AND ')};\n${write}`;
}
