import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

/**
 * What a DuckDB instance is for. Every instance Inlet opens is one of these, and each one's
 * options are set in openDuckDB below and nowhere else, so what each may reach is read in one place.
 */
export type DuckDBProfile =
  /** One per worker slot, so each slot's threads and memory are bounded on their own; user SQL (a sql_transform) runs in it. */
  | {
      readonly kind: 'worker-slot';
      readonly threads: number;
      readonly memoryLimit: string;
      /** Where DuckDB spills when a task's data exceeds the memory limit. */
      readonly tempDirectory: string;
      /** The only directories (besides the spill directory) this instance may read or write. */
      readonly allowedDirectories: readonly string[];
    }
  /** POST /validator: a worker slot's conversion over one sample, which can reach its own directory only. */
  | { readonly kind: 'validator'; readonly memoryLimit: string; readonly directory: string }
  /**
   * A query sandbox: opened unsealed, because it writes its empty files and creates its views
   * first; Sandbox.create then runs sealStatements(..., { lockConfiguration: true }) itself.
   */
  | { readonly kind: 'query-sandbox'; readonly threads: number; readonly memoryLimit: string; readonly tempDirectory: string }
  /** DuckDB's own SQL parser (json_serialize_sql), never sharing an instance with data. */
  | { readonly kind: 'parser' }
  /** The save-time check of a sql_transform, over an empty relation. */
  | { readonly kind: 'sql-check' };

/** Extensions are never fetched or loaded behind Inlet's back: each one widens what SQL can reach. */
const NO_EXTENSIONS = { autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' } as const;

/**
 * The instances that run compileSelect (transform/compile.ts): its SQL repeats no subexpression
 * (see stepsOf there), so the common-subexpression pass only costs planning time, growing with
 * the square of the columns.
 */
const CONVERSION = {
  // Row order must follow file order: reject line numbers are derived from it.
  preserve_insertion_order: 'true',
  disabled_optimizers: 'common_subexpressions',
} as const;

/** Instances that parse or check SQL and hold no data: small, and reaching nothing from the start. */
const SQL_ONLY = { threads: '1', memory_limit: '64MB', enable_external_access: 'false', ...NO_EXTENSIONS } as const;

/**
 * The statements that seal an instance: only `allowedDirectories` readable and writable, external
 * access off, and (lockConfiguration) no setting changeable afterwards. allowed_directories is
 * refused as a start-up option, so it is set before access is switched off; both are
 * instance-wide, and turning access off cannot be undone by SQL afterwards.
 */
export function sealStatements(allowedDirectories: readonly string[], { lockConfiguration }: { lockConfiguration: boolean }): string[] {
  const directories = allowedDirectories.map((d) => path.resolve(d)).map((d) => `'${(d.endsWith(path.sep) ? d : d + path.sep).replaceAll("'", "''")}'`);
  return [`SET allowed_directories = [${directories.join(', ')}]`, 'SET enable_external_access = false', ...(lockConfiguration ? ['SET lock_configuration = true'] : [])];
}

/** Runs statements on a short-lived connection; an instance whose set-up fails is closed, not handed out half-sealed. */
async function setUp(instance: DuckDBInstance, statements: readonly string[]): Promise<DuckDBInstance> {
  try {
    const connection = await instance.connect();
    try {
      for (const statement of statements) await connection.run(statement);
    } finally {
      connection.closeSync();
    }
  } catch (err) {
    instance.closeSync();
    throw err;
  }
  return instance;
}

/** Opens the in-memory DuckDB instance of a profile, with that profile's options and seal. */
export async function openDuckDB(profile: DuckDBProfile): Promise<DuckDBInstance> {
  switch (profile.kind) {
    case 'worker-slot':
    case 'validator': {
      const slot = profile.kind === 'validator' ? { threads: 1, memoryLimit: profile.memoryLimit, tempDirectory: path.join(profile.directory, 'spill'), allowedDirectories: [profile.directory] } : profile;
      mkdirSync(slot.tempDirectory, { recursive: true });
      const instance = await DuckDBInstance.create(':memory:', { threads: String(slot.threads), memory_limit: slot.memoryLimit, temp_directory: slot.tempDirectory, ...NO_EXTENSIONS, ...CONVERSION });
      // If a check of user SQL ever let a file-reading call through, DuckDB itself still refuses it.
      return setUp(instance, sealStatements(slot.allowedDirectories, { lockConfiguration: false }));
    }
    case 'query-sandbox':
      return DuckDBInstance.create(':memory:', { threads: String(profile.threads), memory_limit: profile.memoryLimit, temp_directory: profile.tempDirectory, ...NO_EXTENSIONS });
    case 'parser':
      // Parsing runs no user SQL, but nothing may change what this instance can do either.
      return setUp(await DuckDBInstance.create(':memory:', SQL_ONLY), ['SET lock_configuration = true']);
    case 'sql-check':
      return DuckDBInstance.create(':memory:', SQL_ONLY);
  }
}
