import path from 'node:path';
import type { Catalog } from '../catalog/db.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
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
}

/** Per-attempt scratch space (downloaded, decompressed inputs), removed when the attempt ends. */
export const scratchRoot = (config: Pick<Config, 'dataDir'>) => path.join(config.dataDir, 'scratch');
