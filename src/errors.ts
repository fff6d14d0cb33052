/**
 * One error type per failure kind. The API maps them to HTTP status codes in one place
 * (api/error-handler.ts); workers use `retryable` to decide between retry and failure.
 */
export abstract class InletError extends Error {
  abstract readonly httpStatus: number;
  readonly retryable: boolean = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The request or document is malformed: the message names the field, the value and the fix. */
export class ValidationError extends InletError {
  readonly httpStatus = 400;
}

/** The caller did not prove who they are (no, bad or expired token; wrong password). */
export class AuthenticationError extends InletError {
  readonly httpStatus = 401;
}

/** The caller is who they say, but their roles lack the permission the route needs. */
export class PermissionError extends InletError {
  readonly httpStatus = 403;
}

/** Too many attempts (failed logins): retry after `retryAfterSeconds`. */
export class RateLimitError extends InletError {
  readonly httpStatus = 429;
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** The server is not set up for the request (a setting the operator has not given). */
export class NotConfiguredError extends InletError {
  readonly httpStatus = 501;
}

/** A named or addressed resource does not exist (or belongs to another org). */
export class NotFoundError extends InletError {
  readonly httpStatus = 404;
}

/** Work a request asked for ran past its time limit and was stopped (the validator's conversion). */
export class TimeLimitError extends InletError {
  readonly httpStatus = 422;
}

/** The request clashes with existing state: a duplicate name, a job no longer cancelable. */
export class ConflictError extends InletError {
  readonly httpStatus = 409;
}

/** A query the sandbox refuses or DuckDB cannot run. Answered as 400 with ClickHouse's error shape. */
export class QueryError extends InletError {
  readonly httpStatus: number = 400;
}

/** The caller's org already has as many queries running and waiting as it may: 429, retry later. */
export class OrgQueryLimitError extends QueryError {
  override readonly httpStatus = 429;
}

/** Every query slot is taken and the queue is full, whoever asks: 503, retry later. */
export class QueryServiceBusyError extends QueryError {
  override readonly httpStatus = 503;
}

/** The query process ended under a query (past its memory limit, or a crash); it restarts: 503, retry. */
export class QueryProcessLostError extends QueryError {
  override readonly httpStatus = 503;
}

/** Reading a source object failed in a way a later attempt may not (throttling, reset, 5xx). */
export class TransientSourceError extends InletError {
  readonly httpStatus = 502;
  override readonly retryable = true;
}

/** A source that will not get better by retrying: missing bucket, access denied, bad compression. */
export class SourceError extends InletError {
  readonly httpStatus = 400;
}

/** Reading or writing partition files in the partition storage failed (object store down, disk full). */
export class StorageError extends InletError {
  readonly httpStatus = 502;
  override readonly retryable = true;
}

/** The worker no longer holds the task's lease (canceled, or expired and taken by another worker). */
export class LeaseLostError extends InletError {
  readonly httpStatus = 409;
}

/** Storage ran out (a full disk or quota, a full SQLite or PostgreSQL catalog): retry once space is freed. */
export class StorageFullError extends InletError {
  readonly httpStatus = 503;
  override readonly retryable = true;
}

/** Error codes of storage exhaustion: Node's file system, SQLite (better-sqlite3), PostgreSQL (class 53). */
const STORAGE_FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL', '53100']);

/** The StorageFullError an error from the file system or a database driver stands for, if it is one. */
export function asStorageFull(err: unknown): StorageFullError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof StorageFullError) return e;
    const code = (e as { code?: unknown }).code;
    if ((typeof code === 'string' && STORAGE_FULL_CODES.has(code)) || /No space left on device|database or disk is full/i.test(e.message)) {
      return new StorageFullError(`storage is full (${typeof code === 'string' ? code : e.message}): free disk space on the server (data dir or catalog database), then retry`, { cause: err });
    }
  }
  return undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A task's rejected rows went over its job's budget (settings.max_rejected_*): the task commits nothing. */
export class RejectBudgetError extends InletError {
  readonly httpStatus = 422;
  constructor(
    message: string,
    /** The file that went over, or whose rejects brought the job over. */
    readonly url: string,
  ) {
    super(message);
  }
}

/** A task's rows would make more partitions than one task may write (INLET_MAX_PARTITIONS_PER_TASK): the same rows would again, so no retry. */
export class PartitionLimitError extends InletError {
  readonly httpStatus = 422;
}

/** Another job loaded the same object into the table while this one ran: the task commits nothing rather than load it twice. */
export class AlreadyLoadedError extends InletError {
  readonly httpStatus = 409;
}
