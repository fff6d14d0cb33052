import { sql, type Kysely } from 'kysely';

// How many committed partitions each table has, kept with the commits: every query reports the
// partitions it considered, and counting them cost it a scan of the table's partition index,
// growing with every commit (figures: docs/benchmarks.md).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('tables')
    .addColumn('partition_count', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`UPDATE tables SET partition_count = (SELECT count(*) FROM partitions WHERE partitions.table_id = tables.id)`.execute(db);
}
