import path from 'node:path';
import type { Catalog } from '../catalog/db.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { WorkerMetrics } from '../metrics/worker.js';
import type { Sources } from '../sources/sources.js';
import type { PartitionStorage } from '../storage/storage.js';

/** What every task runner needs; built once per process. */
export interface WorkerContext {
  readonly catalog: Catalog;
  readonly config: Config;
  readonly sources: Sources;
  readonly log: Logger;
  /** Where partitions are written, listed and removed. */
  readonly storage: PartitionStorage;
  /** Told after a task's outcome is committed, so a status view cached by the API can be dropped. */
  readonly onJobChanged?: (orgId: string, jobId: string) => void;
  /** Task and claim durations; absent where nothing scrapes them (tests, tools). */
  readonly metrics?: WorkerMetrics;
}

/** Per-attempt scratch space (downloaded, decompressed inputs), removed when the attempt ends. */
export const scratchRoot = (config: Pick<Config, 'dataDir'>) => path.join(config.dataDir, 'scratch');

/** Where a worker process's DuckDB engine for a task slot spills, under the scratch root. */
export const engineScratchName = (pid: number, slot: number) => `duckdb-${pid}-${slot}`;
/** The process an engine's scratch folder (see engineScratchName) belongs to, or undefined for another folder. */
export const engineScratchPid = (name: string): number | undefined => {
  const pid = /^duckdb-(\d+)-\d+$/.exec(name)?.[1];
  return pid === undefined ? undefined : Number(pid);
};

/** The longest a worker waits between two renewals of a lease, whatever the lease's length. */
export const MAX_HEARTBEAT_MS = 1000;
/** Renewing well inside the lease keeps the task ours; a failed renewal stops the work within a beat. */
export const heartbeatMs = (leaseMs: number): number => Math.max(200, Math.min(MAX_HEARTBEAT_MS, leaseMs / 3));
