import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { User } from '../catalog/schema.js';
import type { ChangeCounter } from '../catalog/db.js';
import type { Config } from '../config/config.js';
import { OrgQueryLimitError, QueryError, QueryProcessLostError, QueryServiceBusyError } from '../errors.js';
import { canceledByClient } from './admission.js';
import type { Statistics } from './output.js';
import type { QueryRequest } from './run.js';
import type { OutputFormat } from './statement.js';

/** The query process's exit code when it ends itself to free the slot of a query DuckDB did not stop (see RunningQuery). */
export const STUCK_QUERY_EXIT_CODE = 70;
/** The query process's exit code when DuckDB stopped its instance after an internal error (stopsInstance): it restarts with a new one. */
export const DUCKDB_STOPPED_EXIT_CODE = 76;
/** What the API asks of the query process. */
export type HostRequest =
  /** `changes`: the API process's catalog writes so far, which plans made before are out of date with. */
  | { type: 'run'; id: number; user: User; request: QueryRequest; changes: number }
  | { type: 'next'; id: number }
  | { type: 'cancel'; id: number }
  | { type: 'forget-table'; tableId: string }
  | { type: 'metrics'; id: number }
  | { type: 'stop' };

/** What the query process answers: pieces of a formatted answer, or the error that ended it. */
export type HostReply =
  | { type: 'ready' }
  | { type: 'start'; id: number; contentType: string; format: OutputFormat; statistics: Statistics }
  | { type: 'data'; id: number; text: string; done: boolean }
  | { type: 'error'; id: number; message: string; status: number }
  /** Its metrics registry in Prometheus text. */
  | { type: 'metrics'; id: number; text: string };

/** A query's answer as the query process formats it: pull `body` at the client's pace. */
export interface HostedAnswer {
  readonly contentType: string;
  readonly format: OutputFormat;
  /** What the query reads, known before its first row (ClickHouse's X-ClickHouse-Summary). */
  readonly statistics: Statistics;
  readonly body: AsyncGenerator<string>;
}

const RESTART_DELAY_MS = 1000;
/** A query process this slow to give its metrics (a blocked event loop) leaves them out of the scrape, not the API's own. */
const METRICS_TIMEOUT_MS = 2000;
const STOP_TIMEOUT_MS = 10_000;

/** The error a query process reported, as the same kind of error here. */
function errorOf(reply: { message: string; status: number }): Error {
  if (reply.status === 429) return new OrgQueryLimitError(reply.message);
  if (reply.status === 503) return new QueryServiceBusyError(reply.message);
  if (reply.status === 400) return new QueryError(reply.message);
  return new Error(reply.message);
}

interface Inbox {
  readonly replies: HostReply[];
  waiter?: { resolve: (reply: HostReply) => void; reject: (err: Error) => void };
  lost?: Error;
}

/**
 * Runs /query statements in a process of their own, started under a data memory limit
 * (RLIMIT_DATA). DuckDB allocates the values of expressions (strings, lists) outside its own
 * memory_limit, so one query can grow without bound; there it fails with DuckDB's out-of-memory
 * error, or at worst ends the query process, which restarts, and never the API.
 */
export class QueryHost {
  private child: ChildProcess | undefined;
  private started: Promise<void> | undefined;
  private nextId = 1;
  private readonly inboxes = new Map<number, Inbox>();
  private readonly metricsWaiters = new Map<number, (text: string | undefined) => void>();
  private stopping = false;

  constructor(
    private readonly config: Config,
    private readonly log: { error(fields: object, message: string): void },
    /** The API's catalog: projects, tables and transforms change there, not in the query process. */
    private readonly changes: ChangeCounter,
  ) {}

  /** Starts the query process; settles once it is ready (or failed to start: queries then answer 503). */
  start(): Promise<void> {
    const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), `host-child${path.extname(fileURLToPath(import.meta.url))}`);
    const kib = this.config.queryProcessMemoryMb * 1024;
    // A shell sets the limit and becomes the query process: Node has no setrlimit of its own.
    const child = spawn('/bin/sh', ['-c', 'ulimit -d "$1" && shift && exec "$@"', 'sh', String(kib), process.execPath, ...process.execArgv, entry], {
      env: { ...process.env, INLET_QUERY_CONFIG: JSON.stringify(this.config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Answers cross as large strings: structured clone copies them, JSON would escape and parse them.
      serialization: 'advanced',
    });
    this.child = child;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.on('message', (reply: HostReply) => this.deliver(reply));
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      const lost = new QueryProcessLostError(
        code === STUCK_QUERY_EXIT_CODE
          ? `The query process ended while running this query: another query did not stop when interrupted, and ending the process was the only way to free its slot; it restarts: retry (QUERY_PROCESS_RESTARTED)`
          : code === DUCKDB_STOPPED_EXIT_CODE
            ? `The query process ended while running this query: another query failed an internal check of DuckDB, which stops its instance; it restarts: retry (QUERY_PROCESS_RESTARTED)`
            : `The query process ended (${signal ?? `exit code ${code}`}) while running this query, most likely past INLET_QUERY_PROCESS_MEMORY_MB=${this.config.queryProcessMemoryMb}; it restarts: retry, or make the query need less memory (MEMORY_LIMIT_EXCEEDED)`,
      );
      for (const inbox of this.inboxes.values()) this.fail(inbox, lost);
      this.inboxes.clear();
      for (const waiter of this.metricsWaiters.values()) waiter(undefined);
      if (this.stopping) return;
      this.log.error({ code, signal }, 'the query process ended; restarting it');
      this.started = undefined;
      setTimeout(() => void this.ready().catch(() => undefined), RESTART_DELAY_MS).unref();
    });
    return new Promise<void>((resolve, reject) => {
      const onReady = (reply: HostReply) => {
        if (reply.type !== 'ready') return;
        child.off('message', onReady);
        resolve();
      };
      child.on('message', onReady);
      void exited.then(() => reject(new QueryProcessLostError('The query process could not start; see the server log (QUERY_PROCESS_DOWN)')));
    });
  }

  /** The query process, started if it is not running. */
  ready(): Promise<void> {
    this.started ??= this.start();
    return this.started;
  }

  private deliver(reply: HostReply): void {
    if (reply.type === 'ready') return;
    if (reply.type === 'metrics') {
      this.metricsWaiters.get(reply.id)?.(reply.text);
      return;
    }
    const inbox = this.inboxes.get(reply.id);
    if (!inbox) return;
    if (inbox.waiter) {
      const { resolve } = inbox.waiter;
      inbox.waiter = undefined;
      resolve(reply);
    } else inbox.replies.push(reply);
  }

  private fail(inbox: Inbox, err: Error): void {
    inbox.lost = err;
    inbox.waiter?.reject(err);
    inbox.waiter = undefined;
  }

  private receive(inbox: Inbox): Promise<HostReply> {
    const reply = inbox.replies.shift();
    if (reply) return Promise.resolve(reply);
    if (inbox.lost) return Promise.reject(inbox.lost);
    return new Promise((resolve, reject) => (inbox.waiter = { resolve, reject }));
  }

  private send(message: HostRequest): void {
    // A query process that dies mid-send fails the write: its 'exit' handler answers the queries.
    if (this.child?.connected) this.child.send(message, undefined, undefined, () => undefined);
  }

  /** Runs a statement in the query process; `signal` aborting (the client went away) cancels it there. */
  async run(user: User, request: QueryRequest, signal: AbortSignal): Promise<HostedAnswer> {
    await this.ready();
    if (signal.aborted) throw canceledByClient();
    const id = this.nextId++;
    const inbox: Inbox = { replies: [] };
    this.inboxes.set(id, inbox);
    let done = false;
    const cancel = () => {
      if (done) return;
      done = true;
      this.inboxes.delete(id);
      this.send({ type: 'cancel', id });
      this.fail(inbox, canceledByClient());
    };
    signal.addEventListener('abort', cancel, { once: true });
    const finish = () => {
      done = true;
      this.inboxes.delete(id);
      signal.removeEventListener('abort', cancel);
    };
    this.send({ type: 'run', id, user, request, changes: this.changes.value });
    const first = await this.receive(inbox).catch((err: unknown) => {
      finish();
      throw err;
    });
    if (first.type === 'error') {
      finish();
      throw errorOf(first);
    }
    if (first.type !== 'start') {
      finish();
      throw new Error(`the query process answered ${first.type} before start`);
    }
    const { contentType, format, statistics } = first;
    const receive = () => this.receive(inbox);
    const send = (message: HostRequest) => this.send(message);
    const body = async function* (): AsyncGenerator<string> {
      try {
        for (;;) {
          const reply = await receive();
          if (reply.type === 'error') throw errorOf(reply);
          if (reply.type !== 'data') continue;
          if (reply.text !== '') yield reply.text;
          if (reply.done) {
            finish();
            return;
          }
          send({ type: 'next', id });
        }
      } finally {
        // Read no further (client gone, error): the query process stops the query.
        cancel();
        finish();
      }
    };
    return { contentType, format, statistics, body: body() };
  }

  /**
   * The query process's metrics in Prometheus text; undefined when it is not running (a scrape
   * does not start it) or does not answer in time.
   */
  metrics(): Promise<string | undefined> {
    if (!this.child?.connected) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(undefined), METRICS_TIMEOUT_MS);
      const settle = (text: string | undefined) => {
        clearTimeout(timer);
        this.metricsWaiters.delete(id);
        resolve(text);
      };
      this.metricsWaiters.set(id, settle);
      this.send({ type: 'metrics', id });
    });
  }

  /** A deleted table's partitions leave the query process's cache at once, not when evicted. */
  forgetTable(tableId: string): void {
    this.send({ type: 'forget-table', tableId });
  }

  async close(): Promise<void> {
    this.stopping = true;
    // A process still starting has no one listening for the stop message yet.
    await this.started?.catch(() => undefined);
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.send({ type: 'stop' });
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}
