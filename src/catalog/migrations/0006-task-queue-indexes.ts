import type { Kysely } from 'kysely';

// The claim looks at each active job's first due READY task in seq order, and counts its RUNNING
// INDEX tasks (tasks_job); the reaper looks for RUNNING tasks whose leases ran out. The claim
// used to scan every READY task by (state, run_after_ms) with a count per row, growing with the queue.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('tasks_claim').execute();
  await db.schema.createIndex('tasks_job_ready').on('tasks').columns(['job_id', 'state', 'seq']).execute();
  await db.schema.createIndex('tasks_lease').on('tasks').columns(['state', 'lease_expires_at_ms']).execute();
  await db.schema.createIndex('jobs_status').on('jobs').columns(['status', 'created']).execute();
}
