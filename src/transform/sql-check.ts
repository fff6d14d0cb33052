import { openDuckDB } from '../duckdb/instances.js';
import { ValidationError } from '../errors.js';
import { FILE_COLUMN, ROW_COLUMN } from './bookkeeping.js';
import { quoteIdent, storedColumns } from './compile.js';
import type { Transform } from './model.js';
import { parseSqlTransform, runSqlTransform } from './sql-transform.js';

/**
 * Parses and checks a transform's sql_transform (sql-transform.ts), then runs the checked SELECT
 * over an empty relation of the converted schema, in a DuckDB that cannot touch files or the
 * network, so a typo, an unknown column or an attempt to read anything but {STREAM} is a 400 when
 * the transform is saved instead of a failed job later. Returns the transform with its checked
 * SQL, the only form of it that convertFiles runs.
 */
export async function checkSqlTransform(transform: Transform): Promise<Transform> {
  if (transform.sqlTransform === undefined) return transform;
  const instance = await openDuckDB({ kind: 'sql-check' });
  const connection = await instance.connect();
  try {
    const checkedSql = await parseSqlTransform(connection, transform.sqlTransform);
    const columns = storedColumns(transform).map((c) => `NULL::${c.type} AS ${quoteIdent(c.name)}`);
    let produced: string[];
    try {
      await runSqlTransform(connection, checkedSql, `SELECT ${columns.join(', ')}, NULL::INTEGER AS ${FILE_COLUMN}, NULL::BIGINT AS ${ROW_COLUMN} LIMIT 0`, 'inlet_transformed');
      produced = (await connection.runAndReadAll('SELECT * FROM inlet_transformed')).columnNames();
    } catch (err) {
      const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
      throw new ValidationError(
        `settings.sql_transform does not run on the converted columns (${storedColumns(transform)
          .map((c) => c.name)
          .join(', ')}): ${message}`,
      );
    }
    if (!produced.includes(transform.primary)) {
      throw new ValidationError(`settings.sql_transform does not output the primary column "${transform.primary}": select it (SELECT * ... FROM {STREAM} keeps every column)`);
    }
    return { ...transform, checkedSql };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
