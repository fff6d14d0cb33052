import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { S3RequestObserver } from '../sources/s3-source.js';

const TASK_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
const CLAIM_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const S3_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** How a task attempt ended, as a label: a bounded set, never the error text. */
export type TaskOutcome = 'done' | 'failed' | 'stopped';

/**
 * A worker process's metrics: what only the process running the tasks sees. Its registry has
 * names of its own (Node's defaults as inlet_worker_*), so the API can append it to its own
 * answer and a `--role worker` process can serve it alone.
 */
export interface WorkerMetrics {
  readonly registry: Registry;
  readonly taskDuration: Histogram<'type' | 'outcome'>;
  /** One claim statement against the catalog, whether or not it found a task. */
  readonly claimDuration: Histogram<'found'>;
  /** Given to the S3 clients of sources and storage. */
  readonly s3: S3RequestObserver;
}

export function createWorkerMetrics(): WorkerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'inlet_worker_' });
  const registers = [registry];
  const s3Requests = new Counter({
    name: 'inlet_s3_requests_total',
    help: 'S3 requests of the worker process (sources and partition storage), by operation and outcome; retries by the SDK count once',
    labelNames: ['operation', 'outcome'],
    registers,
  });
  const s3Retries = new Counter({ name: 'inlet_s3_retries_total', help: 'S3 request attempts the SDK retried (throttling, 5xx, resets), by operation', labelNames: ['operation'], registers });
  const s3Duration = new Histogram({
    name: 'inlet_s3_request_duration_seconds',
    help: 'S3 request latency to the response headers, retries included, by operation',
    labelNames: ['operation'],
    buckets: S3_BUCKETS,
    registers,
  });
  return {
    registry,
    taskDuration: new Histogram({
      name: 'inlet_task_duration_seconds',
      help: 'Task attempts from claim to commit or failure, by type (LIST, INDEX) and outcome (done, failed, stopped)',
      labelNames: ['type', 'outcome'],
      buckets: TASK_BUCKETS,
      registers,
    }),
    claimDuration: new Histogram({ name: 'inlet_task_claim_duration_seconds', help: 'Time one claim of a task takes in the catalog, by whether it found one', labelNames: ['found'], buckets: CLAIM_BUCKETS, registers }),
    s3: ({ operation, ok, attempts, seconds }) => {
      s3Requests.inc({ operation, outcome: ok ? 'ok' : 'error' });
      if (attempts > 1) s3Retries.inc({ operation }, attempts - 1);
      s3Duration.observe({ operation }, seconds);
    },
  };
}
