import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import type { CacheObserver } from '../storage/cache.js';

/**
 * The query process's metrics: its partition cache, which only it sees, and its own Node figures
 * (memory matters there: the process runs under INLET_QUERY_PROCESS_MEMORY_MB). Names of its own,
 * so the API appends this registry's text to its answer.
 */
export interface QueryProcessMetrics {
  readonly registry: Registry;
  /** Given to the partition cache. */
  readonly cache: CacheObserver;
}

export function createQueryProcessMetrics(): QueryProcessMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'inlet_query_' });
  const registers = [registry];
  const files = new Counter({
    name: 'inlet_query_cache_files_total',
    help: 'Partition files queries asked of the read cache of object storage: hit (already local) or miss (downloaded)',
    labelNames: ['result'],
    registers,
  });
  const downloaded = new Counter({ name: 'inlet_query_cache_downloaded_bytes_total', help: 'Bytes of partitions the read cache downloaded from object storage', registers });
  return {
    registry,
    cache: ({ hits, misses, missingBytes }) => {
      if (hits > 0) files.inc({ result: 'hit' }, hits);
      if (misses > 0) files.inc({ result: 'miss' }, misses);
      if (missingBytes > 0) downloaded.inc(missingBytes);
    },
  };
}
