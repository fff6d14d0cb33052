import { stat, writeFile } from 'node:fs/promises';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { Catalog } from '../catalog/db.js';
import { jobQuarantine, quarantineFile } from '../catalog/quarantine.js';
import { queryRows, withConnection } from '../duckdb/engine.js';
import { SourceError } from '../errors.js';
import type { PartitionStorage } from '../storage/storage.js';
import { quoteLiteral } from '../transform/compile.js';
import type { CsvOptions } from '../transform/model.js';
import { scanRecord } from '../ingest/csv-fields.js';
import type { SourceObject } from './source-url.js';

/**
 * A job's quarantine as a source (`rejects://{job uuid}`): one object per quarantine file, read as
 * the raw records it keeps, one per line, so that a new job converts them with its own transform.
 */
export const isRejectsUrl = (url: string): boolean => url.startsWith('rejects://');

/** The job must be of the replaying job's org: another org's job reads as one that does not exist. */
async function checkJob(catalog: Catalog, orgId: string, jobId: string): Promise<void> {
  const job = await catalog.db.selectFrom('jobs').select('id').where('id', '=', jobId).where('org_id', '=', orgId).executeTakeFirst();
  if (!job) throw new SourceError(`rejects://${jobId}: batch job ${jobId} not found in this org; name a job of this org`);
}

/** The job's quarantine files, as one page of objects (after `after`, when a listing resumes). */
export async function* listRejects(catalog: Catalog, orgId: string, jobId: string, after?: string): AsyncIterable<SourceObject[]> {
  await checkJob(catalog, orgId, jobId);
  const objects = (await jobQuarantine(catalog, jobId)).map((q) => ({ url: `rejects://${jobId}/${q.id}`, size: Number(q.bytes), version: q.id }));
  const start = after === undefined ? 0 : objects.findIndex((o) => o.url === after) + 1;
  if (start < objects.length) yield objects.slice(start);
}

/**
 * The line a quarantined record is replayed as. A CSV record read whole by `csv` (the replaying
 * transform's) keeps its line breaks, which are then inside quotes; other text has them as spaces,
 * so that it stays one record (JSON reads them as spaces too).
 */
function replayedLine(text: string, format: string, csv: CsvOptions | undefined): string {
  if (format === 'csv' && csv) {
    const record = scanRecord(text, 0, csv);
    if (!record.open && record.end === text.length) return text;
  }
  return text.replace(/[\r\n]/g, ' ');
}

/**
 * Writes the raw records of one quarantine file to `dest`, one per line in file and line order;
 * answers the bytes written. JSON records (of JSON arrays or documents) are written on one line
 * each; records without raw text (lines too long to read) are left out. `csv`: the replaying
 * transform's options, where it reads CSV.
 */
export async function readRejects(
  ctx: { catalog: Catalog; storage: PartitionStorage; engine: DuckDBInstance },
  orgId: string,
  objectUrl: string,
  dest: string,
  csv: CsvOptions | undefined,
  signal: AbortSignal,
): Promise<{ bytes: number; path: string }> {
  const m = /^rejects:\/\/([^/]+)\/([^/]+)$/.exec(objectUrl);
  if (!m) throw new SourceError(`${objectUrl} is not a quarantine file: listed ones are rejects://{job uuid}/{file id}`);
  const [, jobId, fileId] = m as unknown as [string, string, string];
  await checkJob(ctx.catalog, orgId, jobId);
  const file = await quarantineFile(ctx.catalog, jobId, fileId);
  if (!file) throw new SourceError(`${objectUrl}: the quarantine file is gone (its job was undone, or its table deleted)`);
  const local = await ctx.storage.localFile(file, `${dest}.parquet`, signal);
  const rows = await withConnection(ctx.engine, signal, (c) =>
    queryRows<{ text: string; format: string }>(
      c,
      `SELECT CASE WHEN format = 'json' AND json_valid(raw) THEN json(raw)::VARCHAR ELSE raw END AS text, format
       FROM read_parquet(${quoteLiteral(local)}) WHERE raw IS NOT NULL ORDER BY file, line`,
    ),
  );
  await writeFile(dest, rows.map((r) => `${replayedLine(r.text, r.format, csv)}\n`).join(''));
  return { bytes: (await stat(dest)).size, path: dest };
}
