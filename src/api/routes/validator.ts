import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Catalog } from '../../catalog/db.js';
import { findTableByName, findTransform, listTransforms } from '../../catalog/resources.js';
import type { TableRow, TransformRow } from '../../catalog/schema.js';
import { withStoppableConnection } from '../../duckdb/engine.js';
import { openDuckDB } from '../../duckdb/instances.js';
import { NotFoundError, TimeLimitError, ValidationError } from '../../errors.js';
import { previewFiles } from '../../ingest/preview.js';
import { checkSqlTransform } from '../../transform/sql-check.js';
import { validateTransform } from '../../transform/validate.js';
import { authenticate } from '../auth.js';
import type { ApiContext } from '../context.js';

/** Most records one validator call converts: it is a debugging aid, not an ingest path. */
const MAX_RECORDS = 10_000;

/** The request's data as file text: objects become NDJSON lines, strings are lines as they are. */
function dataText(data: unknown): string {
  if (typeof data === 'string') {
    let lines = data.length > 0 && !data.endsWith('\n') ? 1 : 0;
    for (let at = data.indexOf('\n'); at !== -1 && lines <= MAX_RECORDS + 1; at = data.indexOf('\n', at + 1)) lines++;
    // A CSV header is a line more than the records it heads.
    if (lines > MAX_RECORDS + 1) throw new ValidationError(`data has more than ${MAX_RECORDS + 1} lines: the validator takes at most ${MAX_RECORDS} records (${MAX_RECORDS + 1} lines with a CSV header); send a sample`);
    return data;
  }
  if (!Array.isArray(data)) throw new ValidationError('data is missing: send an array of records (JSON objects, or CSV lines as strings) or the file text as one string');
  if (data.length > MAX_RECORDS) throw new ValidationError(`data has ${data.length} records: the validator takes at most ${MAX_RECORDS}; send a sample`);
  return data.map((d) => (typeof d === 'string' ? d : JSON.stringify(d))).join('\n') + '\n';
}

/** A transform saved on the table, named by its name or its id. */
async function savedTransform(catalog: Catalog, table: TableRow, tableName: string, ref: string): Promise<TransformRow> {
  const saved = (await findTransform(catalog, table, ref)) ?? (await listTransforms(catalog, table)).find((t) => t.id === ref);
  if (!saved) throw new NotFoundError(`transform ${JSON.stringify(ref)} not found in table "${tableName}": name a transform of the table by its name or id, or send it inline as {"type": ..., "settings": {...}}`);
  return saved;
}

/**
 * POST /validator: runs a transform (inline, or one saved on the table) over sample records with
 * the same DuckDB conversion as a job, and answers record by record with the output row or the
 * reason it is rejected.
 */
export function validatorRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Body: { transform?: unknown; data?: unknown } }>('/validator', async (request, reply) => {
    const user = await authenticate(ctx.catalog, request, false);
    const tableName = request.headers['x-hdx-table'];
    if (typeof tableName !== 'string' || !/^[^.]+\.[^.]+$/.test(tableName)) throw new ValidationError(`header x-hdx-table is ${JSON.stringify(tableName)}: name the table as project.table`);
    const [projectName, name] = tableName.split('.') as [string, string];
    const table = await findTableByName(ctx.catalog, user.org_id, projectName, name);
    if (!table) throw new NotFoundError(`table "${tableName}" not found in your org`);

    const body = request.body ?? {};
    const data = body.data;
    const given = body.transform ?? request.headers['x-hdx-transform'];
    if (given !== undefined && (typeof given !== 'string' || given === '') && (typeof given !== 'object' || given === null || Array.isArray(given))) {
      throw new ValidationError(`transform is ${JSON.stringify(given)}: send the transform inline as {"type": ..., "settings": {...}}, or the name or id of a transform of the table`);
    }
    const inline = (given ?? {}) as { type?: unknown; settings?: unknown };
    const validated =
      typeof given === 'string'
        ? ctx.transforms.of(await savedTransform(ctx.catalog, table, tableName, given))
        : validateTransform(inline.type ?? (Array.isArray(data) && data.some((d) => typeof d === 'object' && d !== null) ? 'json' : 'csv'), inline.settings);
    // A saved transform's SQL is checked again: it may have been stored before the checks it must pass now.
    const transform = await checkSqlTransform(validated.transform);
    const text = dataText(data);

    const dir = await mkdtemp(path.join(tmpdir(), 'inlet-validator-'));
    try {
      // The sample's directory is all this DuckDB can reach: the transform's SQL runs in it.
      const instance = await openDuckDB({ kind: 'validator', memoryLimit: ctx.config.duckdbMemoryLimit, directory: dir });
      try {
        const file = path.join(dir, 'data');
        await writeFile(file, text);
        // A costly sql_transform over a large sample would hold the API's cores for good, and
        // go on for a client that has gone: it is stopped after the limit, or when the client leaves.
        const seconds = ctx.config.validatorTimeoutSeconds;
        const timeout = AbortSignal.timeout(seconds * 1000);
        const clientGone = new AbortController();
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) clientGone.abort();
        });
        const stop = AbortSignal.any([timeout, clientGone.signal]);
        const { accounts, records } = await withStoppableConnection(instance, stop, (c) => previewFiles(c, transform, [file])).catch((err: unknown) => {
          if (!timeout.aborted) throw err;
          throw new TimeLimitError(`the validator stopped converting the sample after ${seconds} s (INLET_VALIDATOR_TIMEOUT_SECONDS): send fewer records, or make settings.sql_transform cheaper`, { cause: err });
        });
        const account = accounts[0]!;
        return {
          code: 200,
          table: tableName,
          rows: { read: account.rowsRead, written: account.rowsWritten, rejected: account.rowsRejected },
          results: records[0],
          rejects: account.rejects,
        };
      } finally {
        instance.closeSync();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
