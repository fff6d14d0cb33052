import type { ColumnType, Insertable, Selectable } from 'kysely';

/**
 * The catalog's tables. Portable types only: TEXT for ids, ISO timestamps and JSON documents,
 * INTEGER/BIGINT for counters and epoch milliseconds, so SQLite and PostgreSQL share one schema.
 */
export interface CatalogSchema {
  orgs: OrgsTable;
  users: UsersTable;
  sessions: SessionsTable;
  projects: ProjectsTable;
  tables: TablesTable;
  transforms: TransformsTable;
  jobs: JobsTable;
  tasks: TasksTable;
  task_files: TaskFilesTable;
  partitions: PartitionsTable;
  quarantine: QuarantineTable;
  storages: StoragesTable;
  ledger: LedgerTable;
  user_roles: UserRolesTable;
  invites: InvitesTable;
  signing_keys: SigningKeysTable;
  credentials: CredentialsTable;
}

interface Stamped {
  created: string;
  modified: string;
}

export interface OrgsTable extends Stamped {
  id: string;
  name: string;
  type: string;
}

export interface UsersTable extends Stamped {
  id: string;
  org_id: string;
  email: string;
  /** '' for an invited user who has not set a password yet, and for service accounts. */
  password_hash: string;
  /** 'user' (logs in with a password) or 'service_account' (JWTs only). */
  kind: ColumnType<string, string | undefined, string>;
  /** A service account's name (users are known by email). */
  name: ColumnType<string | null, string | null | undefined, string | null>;
  /** A service account's JWTs are valid only while they carry this generation: raised to revoke them all. */
  token_generation: ColumnType<number, number | undefined, number>;
}

export interface UserRolesTable {
  user_id: string;
  role: string;
}

/** One-time set-password links: stored hashed, deleted when used. */
export interface InvitesTable {
  token_hash: string;
  user_id: string;
  expires_at_ms: number;
}

/** Keys generated at first start (the service-account JWT key). */
export interface SigningKeysTable {
  name: string;
  secret: string;
  created: string;
}

/** An org's source credentials: the secret fields sealed with INLET_SECRET_KEY. */
export interface CredentialsTable extends Stamped {
  id: string;
  org_id: string;
  name: string;
  description: string | null;
  type: string;
  sealed: string;
  settings: string;
}

export interface SessionsTable {
  token_hash: string;
  user_id: string;
  expires_at_ms: number;
}

export interface ProjectsTable extends Stamped {
  id: string;
  org_id: string;
  name: string;
  description: string | null;
  settings: string;
}

export interface TablesTable extends Stamped {
  id: string;
  org_id: string;
  project_id: string;
  name: string;
  description: string | null;
  settings: string;
  /** Committed partitions of the table, kept by the commits (what a query considers before pruning). */
  partition_count: ColumnType<number, number | undefined, number>;
  /** The widest committed partition's max_ts_ms - min_ts_ms: how far before a range a partition overlapping it can start. */
  max_partition_span_ms: ColumnType<number, number | undefined, number>;
}

export interface TransformsTable extends Stamped {
  id: string;
  table_id: string;
  name: string;
  description: string | null;
  type: string;
  is_default: number;
  settings: string;
}

export const JOB_STATUSES = ['ready', 'running', 'done', 'failed', 'canceled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = ['done', 'failed', 'canceled'];

export interface JobsTable extends Stamped {
  id: string;
  org_id: string;
  name: string;
  description: string | null;
  type: string;
  /** The job settings as echoed to the user, defaults filled in. */
  settings: string;
  status: JobStatus;
  table_id: string;
  transform_id: string;
  /** The transform's {type, settings} when the job was created: later edits do not change a running job. */
  transform_doc: string;
  /** `details.job_id`: a separate internal id, as Hydrolix has. */
  run_id: string;
  /** JSON array of error strings (`details.errors`). */
  errors: string;
  /** input_concurrency: INDEX tasks of this job that may run at once. */
  concurrency: number;
  listing_done: number;
  /** Input bytes of all INDEX tasks; known once listing is done. */
  total_bytes: number;
  started_at_ms: number | null;
  finished_at_ms: number | null;
  /** JSON {at, partitions, rows} once the job was undone; its record stays. */
  undone: ColumnType<string | null, string | null | undefined, string | null>;
}

export const TASK_TYPES = ['LIST', 'INDEX'] as const;
export type TaskType = (typeof TASK_TYPES)[number];
export const TASK_STATES = ['READY', 'RUNNING', 'DONE', 'FAILED', 'CANCELED'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export interface TasksTable extends Stamped {
  id: string;
  job_id: string;
  type: TaskType;
  state: TaskState;
  /** 0 for the LIST task, then 1.. in listing order, so tasks run in a stable order. */
  seq: number;
  bytes: number;
  /** JSON array of {url, size} for INDEX tasks. */
  input: string;
  attempts: number;
  /** A task is not claimed before this time: backoff after a failed attempt. */
  run_after_ms: number;
  lease_owner: string | null;
  lease_expires_at_ms: number | null;
  error: string | null;
  /** INDEX tasks: partitions written, or for a dry run those it would write, and their time range. */
  partitions: number | null;
  min_ts_ms: number | null;
  max_ts_ms: number | null;
  /** While RUNNING: source bytes read and rows converted so far by this attempt, as of its last lease renewal. */
  progress_bytes: ColumnType<number, number | undefined, number>;
  progress_rows: ColumnType<number, number | undefined, number>;
  /** Attempts made before the job was last retried: MAX_TASK_ATTEMPTS counts the attempts since. */
  retried_attempts: ColumnType<number, number | undefined, number>;
  /** LIST tasks: the URL of the last listed object whose INDEX task is committed (or that was filtered out); a resumed listing starts after it. */
  list_after: ColumnType<string | null, string | null | undefined, string | null>;
  /** LIST tasks: objects kept up to list_after, so max_files holds across a resumed listing. */
  list_kept: ColumnType<number, number | undefined, number>;
}

/** What one INDEX task did with one source object; written with the task's commit. */
export interface TaskFilesTable {
  id: string;
  job_id: string;
  task_id: string;
  url: string;
  bytes: number;
  rows_read: number;
  rows_written: number;
  rows_rejected: number;
  /** JSON array of the first rejects: {line, column, reason}. */
  rejects: string;
  error: string | null;
  /** The object's version as read (S3 ETag; a file's size and time), when the source gives one. */
  version: ColumnType<string | null, string | null | undefined, never>;
  /** A file the job skipped: the job that had loaded it into the table (see LedgerTable). */
  loaded_by: ColumnType<string | null, string | null | undefined, never>;
  /** Rejected records of the file kept in the quarantine (at most rows_rejected; fewer past max_quarantined_rows). */
  rows_quarantined: ColumnType<number, number | undefined, never>;
}

/** One object a table loaded, written with the commit of the task that loaded it; undo removes its job's. */
export interface LedgerTable {
  id: string;
  table_id: string;
  url: string;
  version: string | null;
  bytes: number;
  job_id: string;
  task_id: string;
  rows_written: number;
  created: string;
}

export interface PartitionsTable {
  id: string;
  table_id: string;
  job_id: string;
  task_id: string;
  /** "/"-separated key below its storage's root: `<table id>/<attempt>/...`. */
  path: string;
  /** The storage holding the file (see StoragesTable); null for the local default (`<data dir>/partitions`). */
  storage_id: ColumnType<string | null, string | null | undefined, never>;
  min_ts_ms: number;
  max_ts_ms: number;
  rows: number;
  bytes: number;
  created: string;
  /** The file's columns and types as a short key (see schemaKey); null for partitions written before it was kept. */
  schema_key: ColumnType<string | null, string | null | undefined, never>;
  /** Set by undo: no query reads the partition; the sweeper removes it and its file after its grace period. */
  undone_at_ms: ColumnType<number | null, number | null | undefined, number | null>;
}

/** A Parquet file of rejected records, beside the partitions its task wrote: committed, undone and swept as they are. */
export interface QuarantineTable {
  id: string;
  table_id: string;
  job_id: string;
  task_id: string;
  /** "/"-separated key below its storage's root, as a partition's. */
  path: string;
  storage_id: string | null;
  rows: number;
  bytes: number;
  created: string;
  undone_at_ms: ColumnType<number | null, number | null | undefined, number | null>;
}

/** A bucket partitions can be kept in: an org's (Storages API), or the boot-time default (org null) when INLET_STORAGE_URL is S3. */
export interface StoragesTable extends Stamped {
  id: string;
  org_id: string | null;
  name: string;
  description: string | null;
  /** JSON: {bucket_name, bucket_path, region, cloud, endpoint}. */
  settings: string;
}

export type Org = Selectable<OrgsTable>;
export type StorageRow = Selectable<StoragesTable>;
export type User = Selectable<UsersTable>;
export type CredentialRow = Selectable<CredentialsTable>;
export type Project = Selectable<ProjectsTable>;
export type TableRow = Selectable<TablesTable>;
export type TransformRow = Selectable<TransformsTable>;
export type JobRow = Selectable<JobsTable>;
export type TaskRow = Selectable<TasksTable>;
export type TaskFileRow = Selectable<TaskFilesTable>;
export type PartitionRow = Selectable<PartitionsTable>;
export type NewTask = Insertable<TasksTable>;
export type NewPartition = Insertable<PartitionsTable>;
export type QuarantineRow = Selectable<QuarantineTable>;
export type NewQuarantineFile = Insertable<QuarantineTable>;
export type NewTaskFile = Insertable<TaskFilesTable>;
