// The query process QueryHost starts: runs /query statements with DuckDB under its own memory limit.
import { openCatalog } from '../catalog/db.js';
import { createQueryProcessMetrics } from '../metrics/query-process.js';
import { ParsedTransforms, PARSED_TRANSFORMS_KEPT } from '../catalog/parsed.js';
import type { Config } from '../config/config.js';
import { stopsInstance } from '../duckdb/engine.js';
import { errorMessage, QueryError } from '../errors.js';
import { contentTypeOf, resultBody } from './body.js';
import { DUCKDB_STOPPED_EXIT_CODE, STUCK_QUERY_EXIT_CODE, type HostReply, type HostRequest } from './host.js';
import { PartitionStorage } from '../storage/storage.js';
import { QueryService } from './run.js';
import { STOP_GRACE_MS } from './running.js';

const config = JSON.parse(process.env.INLET_QUERY_CONFIG ?? 'null') as Config | null;
if (!config || !process.send) throw new Error('the query process is started by `inlet serve`, not by hand');
// A parent that dies mid-send fails the write (EPIPE): the callback takes that error, and
// 'disconnect' ends this process, instead of an unhandled 'error' event and a stack trace.
const reply = (message: HostReply) => {
  if (process.connected) process.send!(message, undefined, undefined, () => undefined);
};
const catalog = await openCatalog(config.databaseUrl);
// Projects, tables and transforms change in the API process: each query says how many changes its catalog has seen.
const metrics = createQueryProcessMetrics();
const storage = new PartitionStorage(config, catalog, undefined, metrics.cache);
// A query DuckDB does not stop holds a slot and a core until this process ends: it ends, and is restarted.
const service = new QueryService(catalog, config, storage, new ParsedTransforms(PARSED_TRANSFORMS_KEPT), () => {
  process.stderr.write(`a query did not stop ${STOP_GRACE_MS / 1000} s after it was interrupted (timeout or client gone): ending the query process to free its slot\n`);
  process.exit(STUCK_QUERY_EXIT_CODE);
});

/**
 * An answer crosses in messages of at most this many characters: a small answer is one message,
 * and however large one value or chunk is, the API process holds no more of it than this.
 */
const BATCH_CHARS = 256 * 1024;

interface Running {
  readonly cancel: AbortController;
  body?: AsyncGenerator<string>;
  /** Formatted text read from the body but not sent yet. */
  carry: string;
  ended: boolean;
}
const running = new Map<number, Running>();

const statusOf = (err: unknown) => (err instanceof QueryError ? err.httpStatus : 500);

/** Where to cut a batch: never between the two halves of a surrogate pair, which would each encode as U+FFFD. */
const cutAt = (text: string) => {
  const last = text.charCodeAt(BATCH_CHARS - 1);
  return last >= 0xd800 && last <= 0xdbff ? BATCH_CHARS - 1 : BATCH_CHARS;
};

/** Answers a query's failure; one that stopped DuckDB's instance ends this process, after its answer, to restart with a usable one. */
function fail(id: number, err: unknown): void {
  running.delete(id);
  reply({ type: 'error', id, message: errorMessage(err), status: statusOf(err) });
  if (!stopsInstance(err)) return;
  process.stderr.write(`DuckDB stopped the query process's instance after an internal error (${errorMessage(err).split('\n')[0]}): ending the process, which restarts\n`);
  setImmediate(() => process.exit(DUCKDB_STOPPED_EXIT_CODE));
}

async function pump(id: number, query: Running): Promise<void> {
  let text = query.carry;
  try {
    while (!query.ended && text.length < BATCH_CHARS) {
      const next = await query.body!.next();
      if (next.done) query.ended = true;
      else text += next.value;
    }
    const done = query.ended && text.length <= BATCH_CHARS;
    const cut = done ? text.length : cutAt(text);
    query.carry = text.slice(cut);
    if (done) running.delete(id);
    reply({ type: 'data', id, text: text.slice(0, cut), done });
  } catch (err) {
    fail(id, err);
  }
}

async function run(message: Extract<HostRequest, { type: 'run' }>): Promise<void> {
  const query: Running = { cancel: new AbortController(), carry: '', ended: false };
  running.set(message.id, query);
  try {
    const execution = await service.run(message.user, message.request, message.changes, query.cancel.signal);
    query.body = resultBody(execution);
    if (query.cancel.signal.aborted) {
      await query.body.return(undefined);
      return;
    }
    reply({ type: 'start', id: message.id, contentType: contentTypeOf(execution), format: execution.format, statistics: execution.statistics() });
    await pump(message.id, query);
  } catch (err) {
    fail(message.id, err);
  }
}

let stopping = false;
process.on('message', (message: HostRequest) => {
  if (message.type === 'run') void run(message);
  else if (message.type === 'next') {
    const query = running.get(message.id);
    if (query?.body) void pump(message.id, query);
  } else if (message.type === 'cancel') {
    const query = running.get(message.id);
    running.delete(message.id);
    query?.cancel.abort();
    void query?.body?.return(undefined);
  } else if (message.type === 'metrics') {
    const { id } = message;
    metrics.registry.metrics().then(
      (text) => reply({ type: 'metrics', id, text }),
      () => reply({ type: 'metrics', id, text: '' }),
    );
  } else if (message.type === 'forget-table') {
    void storage.forgetCached(message.tableId);
  } else if (message.type === 'stop' && !stopping) {
    stopping = true;
    void service
      .close()
      .then(() => catalog.close())
      .finally(() => process.exit(0));
  }
});
// The API process died without telling us: stop at once, nothing here outlives it.
process.on('disconnect', () => process.exit(1));
// SIGTERM and SIGINT reach the whole process group; the parent decides when we stop.
process.on('SIGTERM', () => undefined);
process.on('SIGINT', () => undefined);
reply({ type: 'ready' });
