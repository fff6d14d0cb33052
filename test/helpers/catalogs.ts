import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openCatalog, type Catalog } from '../../src/catalog/db.js';

/** The PostgreSQL the tests use: the machine's, trust auth, database `test` (override with INLET_TEST_POSTGRES_URL). */
export const POSTGRES_URL = process.env.INLET_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const DIALECTS = ['sqlite', 'postgres'] as const;

/** A fresh, migrated catalog: a SQLite file in a temp dir, or a PostgreSQL schema of its own. */
export async function freshCatalog(dialect: (typeof DIALECTS)[number]): Promise<{ catalog: Catalog; url: string; drop(): Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(path.join(tmpdir(), 'inlet-catalog-'));
    const url = `sqlite://${path.join(dir, 'catalog.sqlite')}`;
    const catalog = await openCatalog(url);
    return { catalog, url, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const schema = `inlet_test_${randomBytes(6).toString('hex')}`;
  const url = `${POSTGRES_URL}?schema=${schema}`;
  const drop = () => dropSchema(schema);
  try {
    return { catalog: await openCatalog(url), url, drop };
  } catch (err) {
    await drop();
    throw err;
  }
}

/** Drops a test's schema; called even when the catalog in it failed to start. */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}
