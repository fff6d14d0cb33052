import { DuckDBInstance } from '@duckdb/node-api';
import { ValidationError } from '../errors.js';
import { quoteIdent, sqlTransformOver, storedColumns } from './compile.js';
import type { Transform } from './model.js';

/**
 * Binds a transform's sql_transform against an empty relation of the converted schema, in a
 * DuckDB that cannot touch files or the network, so a typo, an unknown column or an attempt to
 * read files is a 400 when the transform is saved instead of a failed job later.
 */
export async function checkSqlTransform(transform: Transform): Promise<void> {
  if (transform.sqlTransform === undefined) return;
  const instance = await DuckDBInstance.create(':memory:', { enable_external_access: 'false', threads: '1', memory_limit: '64MB', autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' });
  const connection = await instance.connect();
  try {
    const columns = storedColumns(transform).map((c) => `NULL::${c.type} AS ${quoteIdent(c.name)}`);
    await connection.run(`CREATE TEMP TABLE stream AS SELECT ${columns.join(', ')}, NULL::INTEGER AS __inlet_file, NULL::BIGINT AS __inlet_row LIMIT 0`);
    let produced: string[];
    try {
      const reader = await connection.runAndReadAll(`SELECT * FROM (${sqlTransformOver(transform, 'stream')}) LIMIT 0`);
      produced = reader.columnNames();
    } catch (err) {
      const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
      throw new ValidationError(`settings.sql_transform does not run on the converted columns (${storedColumns(transform).map((c) => c.name).join(', ')}): ${message}`);
    }
    if (!produced.includes(transform.primary)) {
      throw new ValidationError(`settings.sql_transform does not output the primary column "${transform.primary}": select it (SELECT * ... FROM {STREAM} keeps every column)`);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
