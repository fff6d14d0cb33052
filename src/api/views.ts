import type { JobProgress } from '../catalog/jobs.js';
import type { JobRow, Org, Project, TableRow, TaskFileRow, TransformRow } from '../catalog/schema.js';
import { DEFAULT_MAX_QUARANTINED_ROWS, type JobSettings } from '../jobs/settings.js';

/** The wire shapes of the Hydrolix Config API, built from catalog rows in one place. */

export const orgView = (org: Org) => ({
  uuid: org.id,
  name: org.name,
  type: org.type,
  cloud: 'local',
  kubernetes: false,
  created: org.created,
  modified: org.modified,
});

export const projectView = (p: Project) => ({
  uuid: p.id,
  name: p.name,
  description: p.description,
  org: p.org_id,
  created: p.created,
  modified: p.modified,
  settings: JSON.parse(p.settings) as unknown,
  url: `/config/v1/orgs/${p.org_id}/projects/${p.id}/`,
});

export const tableView = (t: TableRow, primaryKey: string | null) => ({
  uuid: t.id,
  name: t.name,
  description: t.description,
  project: t.project_id,
  created: t.created,
  modified: t.modified,
  settings: JSON.parse(t.settings) as unknown,
  type: 'turbine',
  primary_key: primaryKey,
  url: `/config/v1/orgs/${t.org_id}/projects/${t.project_id}/tables/${t.id}/`,
});

export const transformView = (t: TransformRow) => ({
  uuid: t.id,
  name: t.name,
  description: t.description,
  type: t.type,
  table: t.table_id,
  created: t.created,
  modified: t.modified,
  // The catalog's flag wins: making another transform the default clears this one's.
  settings: { ...(JSON.parse(t.settings) as Record<string, unknown>), is_default: t.is_default === 1 },
});

export const fileView = (f: TaskFileRow) => ({
  url: f.url,
  bytes: f.bytes,
  rows_read: f.rows_read,
  rows_written: f.rows_written,
  rows_rejected: f.rows_rejected,
  rejects: JSON.parse(f.rejects) as unknown[],
  // Inlet's: how many of the file's rejected records the quarantine kept (see docs/api.md, Quarantine).
  rows_quarantined: Number(f.rows_quarantined),
  error: f.error,
  // Inlet's: a file skipped because the table had loaded it already, with the job that did.
  ...(f.loaded_by === null ? {} : { skipped: { reason: 'already loaded into this table', loaded_by_job: f.loaded_by } }),
});

/**
 * `percent_complete` is a fraction (the reference shows 1 when done), weighted by input bytes
 * of INDEX tasks that ended and the bytes running ones have read so far; it stays an estimate
 * (0) until the listing knows the total, and does not reach 1 on what running tasks read.
 */
function percentComplete(job: JobRow, progress: JobProgress): number {
  if (job.status === 'done') return 1;
  if (job.listing_done !== 1) return 0;
  if (job.total_bytes === 0) {
    const index = progress.tasks.INDEX ?? {};
    const total = Object.values(index).reduce((a, b) => a + (b ?? 0), 0);
    return total === 0 ? 1 : ((index.DONE ?? 0) + (index.FAILED ?? 0)) / total;
  }
  const ended = Math.min(1, progress.finishedBytes / job.total_bytes);
  // A running task counts no more than its own input, whatever its objects turned out to hold.
  const read = progress.finishedBytes + Math.min(progress.inFlight.bytesRead, progress.inFlight.bytes);
  return Math.max(ended, Math.min(MAX_UNFINISHED_FRACTION, read / job.total_bytes));
}

/** Short of 1, which says done: the last bytes read still have to be converted and committed. */
const MAX_UNFINISHED_FRACTION = 0.99;

const SKIPPED_REASON = 'already loaded into this table by an earlier job (same URL, version and size): /files names the job; settings.force: true loads them again';

export function jobView(job: JobRow, progress: JobProgress, problemFiles: readonly TaskFileRow[]) {
  const createdMs = Date.parse(job.created);
  return {
    name: job.name,
    description: job.description,
    uuid: job.id,
    created: job.created,
    modified: job.modified,
    settings: JSON.parse(job.settings) as unknown,
    status: job.status,
    type: job.type,
    org: job.org_id,
    details: {
      errors: JSON.parse(job.errors) as string[],
      job_id: job.run_id,
      duration_ms: Math.max(0, (job.finished_at_ms ?? Date.now()) - createdMs),
      status_detail: {
        tasks: progress.tasks,
        estimated: job.listing_done !== 1,
        percent_complete: percentComplete(job, progress),
      },
      // Inlet's additions: row accounting, and the files that had rejects or could not be read.
      rows: progress.rows,
      bytes_read: progress.bytesRead,
      // What running tasks have read and converted so far: not in `rows` until their commit.
      in_flight: { bytes_read: progress.inFlight.bytesRead, rows_read: progress.inFlight.rowsRead },
      // Written partitions, or for a dry run the ones it would write.
      partitions: {
        count: progress.partitions.count,
        min_time: progress.partitions.minTsMs === null ? null : new Date(progress.partitions.minTsMs).toISOString(),
        max_time: progress.partitions.maxTsMs === null ? null : new Date(progress.partitions.maxTsMs).toISOString(),
      },
      files: problemFiles.map(fileView),
      // Objects the listing set aside because the table had loaded them, as they are now, already (see docs/api.md, Ledger).
      skipped: { files: progress.skipped.files, bytes: progress.skipped.bytes, reason: SKIPPED_REASON },
      // Rejected records kept in the quarantine, and whether every one was (max_quarantined_rows bounds them).
      quarantine: {
        rows: progress.quarantined,
        max_rows: (JSON.parse(job.settings) as JobSettings).max_quarantined_rows ?? DEFAULT_MAX_QUARANTINED_ROWS,
        all_kept: progress.quarantined >= progress.rows.rejected,
        source: `rejects://${job.id}`,
      },
      // Set once the job was undone: when, and the partitions and rows taken back.
      undone: job.undone === null ? null : (JSON.parse(job.undone) as unknown),
    },
  };
}

export const storageView = (s: { id: string; name: string; description: string | null; created: string | null; modified: string | null; settings: unknown }, orgId: string, isDefault: boolean) => ({
  uuid: s.id,
  name: s.name,
  description: s.description,
  org: orgId,
  created: s.created,
  modified: s.modified,
  settings: s.settings,
  is_default: isDefault,
  url: `/config/v1/orgs/${orgId}/storages/${s.id}/`,
});
