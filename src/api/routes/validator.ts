import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { FastifyInstance } from 'fastify';
import { findTableByName } from '../../catalog/resources.js';
import { withConnection } from '../../duckdb/engine.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import { previewFiles } from '../../ingest/preview.js';
import { CONVERSION_ENGINE_OPTIONS } from '../../transform/compile.js';
import { checkSqlTransform } from '../../transform/sql-check.js';
import { validateTransform } from '../../transform/validate.js';
import { authenticate } from '../auth.js';
import type { ApiContext } from '../context.js';

/** Most records one validator call converts: it is a debugging aid, not an ingest path. */
const MAX_RECORDS = 10_000;

/** The request's data as file text: objects become NDJSON lines, strings are lines as they are. */
function dataText(data: unknown): string {
  if (typeof data === 'string') return data;
  if (!Array.isArray(data)) throw new ValidationError('data is missing: send an array of records (JSON objects, or CSV lines as strings) or the file text as one string');
  if (data.length > MAX_RECORDS) throw new ValidationError(`data has ${data.length} records: the validator takes at most ${MAX_RECORDS}; send a sample`);
  return data.map((d) => (typeof d === 'string' ? d : JSON.stringify(d))).join('\n') + '\n';
}

/**
 * POST /validator: runs a transform over sample records with the same DuckDB conversion as a
 * job, and answers record by record with the output row or the reason it is rejected.
 */
export function validatorRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post<{ Body: { transform?: { type?: unknown; settings?: unknown }; data?: unknown } }>('/validator', async (request) => {
    const user = await authenticate(ctx.catalog, request, false);
    const tableName = request.headers['x-hdx-table'];
    if (typeof tableName !== 'string' || !/^[^.]+\.[^.]+$/.test(tableName)) throw new ValidationError(`header x-hdx-table is ${JSON.stringify(tableName)}: name the table as project.table`);
    const [projectName, name] = tableName.split('.') as [string, string];
    if (!(await findTableByName(ctx.catalog, user.org_id, projectName, name))) throw new NotFoundError(`table "${tableName}" not found in your org`);

    const body = request.body ?? {};
    const data = body.data;
    const doc = body.transform ?? {};
    const type = doc.type ?? (Array.isArray(data) && data.some((d) => typeof d === 'object' && d !== null) ? 'json' : 'csv');
    const { transform } = validateTransform(type, doc.settings);
    await checkSqlTransform(transform);

    const dir = await mkdtemp(path.join(tmpdir(), 'inlet-validator-'));
    const instance = await DuckDBInstance.create(':memory:', { threads: '1', memory_limit: ctx.config.duckdbMemoryLimit, preserve_insertion_order: 'true', autoinstall_known_extensions: 'false', autoload_known_extensions: 'false', ...CONVERSION_ENGINE_OPTIONS });
    try {
      const file = path.join(dir, 'data');
      await writeFile(file, dataText(data));
      const { accounts, records } = await withConnection(instance, undefined, (c) => previewFiles(c, transform, [file]));
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
      await rm(dir, { recursive: true, force: true });
    }
  });
}
