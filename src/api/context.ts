import type { Catalog } from '../catalog/db.js';
import type { ParsedTransforms } from '../catalog/parsed.js';
import type { AccessControl } from './auth.js';
import type { Config } from '../config/config.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Sources } from '../sources/sources.js';
import type { QueryHost } from '../query/host.js';
import type { PartitionStorage } from '../storage/storage.js';

export interface ApiContext {
  readonly catalog: Catalog;
  /** Service-account token keys, the failed-login limiter and the credential key (service.ts). */
  readonly access: AccessControl;
  readonly config: Config;
  readonly sources: Sources;
  /** Where partitions are read and removed. */
  readonly storage: PartitionStorage;
  /** The query process: runs /query statements and holds the read cache. */
  readonly queries: QueryHost;
  /** Wakes this process's idle workers after a job is created; a no-op for API-only processes. */
  readonly nudgeWorkers: () => void;
  /** Registers a listener for this process's workers committing a task of a job (none for API-only processes). */
  readonly onJobChanged: (listener: (orgId: string, jobId: string) => void) => void;
  /** Saved transforms validated once per version (service.ts). */
  readonly transforms: ParsedTransforms;
  /** The API process's Prometheus registry and the instruments its routes record into. */
  readonly metrics: Metrics;
}
