import { gzipSync } from 'node:zlib';

export const HOSTS = ['a.example.com', 'b.example.com', 'c.example.com'];

/** Web-log rows with a timestamp every `stepSeconds` from `start`. */
export function logRows(count: number, start = Date.UTC(2024, 0, 1), stepSeconds = 1, offset = 0) {
  return Array.from({ length: count }, (_, k) => {
    const i = k + offset;
    return {
      time: new Date(start + i * stepSeconds * 1000),
      host: HOSTS[i % HOSTS.length]!,
      status: [200, 404, 500][i % 3]!,
      bytes: 1000 + i,
      latency: (i % 100) / 10,
      cached: i % 2 === 0 ? 'true' : 'false',
    };
  });
}

export const goTime = (d: Date) => d.toISOString().slice(0, 19).replace('T', ' ');

export function csvOf(rows: ReturnType<typeof logRows>, header = true): string {
  const lines = rows.map((r) => `${goTime(r.time)},${r.host},${r.status},${r.bytes},${r.latency},${r.cached}`);
  return (header ? 'timestamp,host,status,bytes,latency,cached\n' : '') + lines.join('\n') + '\n';
}

export function ndjsonOf(rows: ReturnType<typeof logRows>): string {
  return rows.map((r) => JSON.stringify({ ts: r.time.getTime(), host: r.host, status: r.status, bytes: r.bytes, latency: r.latency, cached: r.cached === 'true' })).join('\n') + '\n';
}

export const gzip = (text: string) => gzipSync(Buffer.from(text));

const column = (name: string, datatype: Record<string, unknown>) => ({ name, datatype });

/** The CSV transform of the tests: a header line, Go layout timestamps, every scalar kind. */
export const CSV_TRANSFORM = {
  name: 'mytransformname',
  type: 'csv',
  settings: {
    is_default: true,
    compression: 'none',
    format_details: { delimiter: ',', skip_head: 1 },
    output_columns: [
      column('timestamp', { type: 'datetime', primary: true, format: '2006-01-02 15:04:05', source: { from_input_index: 0 } }),
      column('host', { type: 'string', source: { from_input_index: 1 } }),
      column('status', { type: 'uint32', source: { from_input_index: 2 } }),
      column('bytes', { type: 'int64', source: { from_input_index: 3 } }),
      column('latency', { type: 'double', source: { from_input_index: 4 } }),
      column('cached', { type: 'boolean', source: { from_input_index: 5 } }),
    ],
  },
};

/** The same table fed from NDJSON, with an epoch-milliseconds primary timestamp. */
export const JSON_TRANSFORM = {
  name: 'ndjson',
  type: 'json',
  settings: {
    compression: 'none',
    output_columns: [
      column('timestamp', { type: 'epoch', primary: true, format: 'ms', source: { from_input_field: 'ts' } }),
      column('host', { type: 'string' }),
      column('status', { type: 'uint32' }),
      column('bytes', { type: 'int64' }),
      column('latency', { type: 'double' }),
      column('cached', { type: 'boolean' }),
    ],
  },
};

/** The create-job body of the reference page, pointed at `url`. */
export function referenceJob(name: string, url: string, extra: { transform?: string; settings?: Record<string, unknown> } = {}) {
  return {
    name,
    description: 'A Description of my job',
    type: 'batch_import',
    settings: {
      ...extra.settings,
      source: {
        table: 'website.events',
        type: 'batch',
        subtype: 'aws s3',
        transform: extra.transform ?? 'mytransformname',
        settings: { url },
      },
    },
  };
}
