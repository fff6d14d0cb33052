import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { Catalog } from '../catalog/db.js';
import { tablePartitions } from '../catalog/partitions.js';
import { findTableByName, listTransforms } from '../catalog/resources.js';
import type { User } from '../catalog/schema.js';
import type { Config } from '../config/config.js';
import { errorMessage, QueryError } from '../errors.js';
import { quoteIdent, quoteLiteral, storedColumns } from '../transform/compile.js';
import { validateTransform } from '../transform/validate.js';
import { partitionsRoot } from '../worker/context.js';
import type { QueryResult } from './output.js';
import { splitFormat, tableRefs, type OutputFormat, type TableRef } from './statement.js';

interface TableView {
  readonly ref: TableRef;
  readonly files: readonly string[];
  readonly bytes: number;
  readonly rows: number;
  /** SQL for the view: the table's committed partitions, or an empty relation of its schema. */
  readonly sql: string;
}

async function resolveTable(catalog: Catalog, config: Config, user: User, ref: TableRef): Promise<TableView> {
  // Another org's table is "not found", exactly like one that does not exist.
  const table = await findTableByName(catalog, user.org_id, ref.project, ref.table);
  if (!table) throw new QueryError(`Table ${ref.project}.${ref.table} doesn't exist (UNKNOWN_TABLE)`);
  const partitions = await tablePartitions(catalog, table.id);
  const files = partitions.map((p) => path.join(partitionsRoot(config), p.path));
  const bytes = partitions.reduce((sum, p) => sum + p.bytes, 0);
  const rows = partitions.reduce((sum, p) => sum + p.rows, 0);
  if (files.length > 0) {
    return { ref, files, bytes, rows, sql: `SELECT * FROM read_parquet([${files.map(quoteLiteral).join(', ')}], union_by_name = true)` };
  }
  const transforms = await listTransforms(catalog, table);
  const doc = transforms.find((t) => t.is_default === 1) ?? transforms[0];
  const columns = doc ? storedColumns(validateTransform(doc.type, JSON.parse(doc.settings)).transform) : [];
  const select = columns.length > 0 ? columns.map((c) => `NULL::${c.type} AS ${quoteIdent(c.name)}`).join(', ') : 'NULL AS "no_columns"';
  return { ref, files, bytes, rows, sql: `SELECT ${select} WHERE false` };
}

/**
 * A fresh in-memory DuckDB per query, in which each referenced table is a view over its
 * committed partitions. External access is then switched off (only those files stay readable)
 * and the configuration locked, so the SQL can read nothing else and change no setting.
 */
async function sandbox(config: Config, views: readonly TableView[]): Promise<{ instance: DuckDBInstance; connection: DuckDBConnection }> {
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(config.duckdbThreads),
    memory_limit: config.duckdbMemoryLimit,
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const connection = await instance.connect();
  const files = views.flatMap((v) => v.files);
  await connection.run(`SET allowed_paths = [${files.map(quoteLiteral).join(', ')}]`);
  await connection.run('SET enable_external_access = false');
  for (const view of views) {
    await connection.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(view.ref.project)}`);
    await connection.run(`CREATE VIEW ${quoteIdent(view.ref.project)}.${quoteIdent(view.ref.table)} AS ${view.sql}`);
  }
  await connection.run('SET lock_configuration = true');
  return { instance, connection };
}

/** Cleans DuckDB's error text into ClickHouse's one-line shape. */
function queryError(err: unknown): QueryError {
  const message = errorMessage(err).split('\n')[0]!;
  return new QueryError(`DB::Exception: ${message}`);
}

export async function runQuery(catalog: Catalog, config: Config, user: User, text: string): Promise<{ format: OutputFormat; result: QueryResult }> {
  const started = performance.now();
  const { sql, format } = splitFormat(text);
  const parser = await DuckDBInstance.create(':memory:', { enable_external_access: 'false', autoload_known_extensions: 'false' });
  let serialized: string;
  try {
    const connection = await parser.connect();
    const reader = await connection.runAndReadAll(`SELECT json_serialize_sql(${quoteLiteral(sql)}) AS ast`);
    serialized = String(reader.getRowObjectsJS()[0]!.ast);
    connection.closeSync();
  } finally {
    parser.closeSync();
  }
  const views = await Promise.all(tableRefs(serialized).map((ref) => resolveTable(catalog, config, user, ref)));
  const { instance, connection } = await sandbox(config, views);
  try {
    const reader = await connection.runAndReadAll(sql).catch((err: unknown) => {
      throw queryError(err);
    });
    return {
      format,
      result: {
        // DuckDB spells ClickHouse's count() as count_star(); clients key on the name.
        names: reader.columnNames().map((name) => (name === 'count_star()' ? 'count()' : name)),
        types: reader.columnTypes(),
        rows: reader.getRowsJson(),
        elapsedSeconds: (performance.now() - started) / 1000,
        rowsRead: views.reduce((sum, v) => sum + v.rows, 0),
        bytesRead: views.reduce((sum, v) => sum + v.bytes, 0),
      },
    };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
