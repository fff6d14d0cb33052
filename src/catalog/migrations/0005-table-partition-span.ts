import { sql, type Kysely } from 'kysely';

// The widest partition of each table (max_ts_ms - min_ts_ms), kept with the commits. A time
// range query finds the partitions overlapping [from, to] with min_ts_ms <= to AND max_ts_ms >= from;
// only the first bounds the index scan, which then walked every older partition, growing with
// every commit (figures: docs/benchmarks.md). min_ts_ms >= from - widest bounds it from below too.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('tables')
    .addColumn('max_partition_span_ms', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`UPDATE tables SET max_partition_span_ms = COALESCE((SELECT max(max_ts_ms - min_ts_ms) FROM partitions WHERE partitions.table_id = tables.id), 0)`.execute(db);
}
