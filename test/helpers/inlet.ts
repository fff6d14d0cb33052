import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { loadConfig, type RawSettings } from '../../src/config/config.js';
import { createLogger } from '../../src/log.js';
import { startService, type Service } from '../../src/service.js';
import { CSV_TRANSFORM, referenceJob } from './data.js';
import { startLocalS3, type LocalS3 } from './s3.js';

export const ADMIN = { username: 'admin@example.com', password: 'correct horse battery staple' };

export interface Response<T = unknown> {
  readonly status: number;
  readonly body: T;
  readonly text: string;
}

/** A client that speaks to Inlet over real HTTP, as curl would. */
export class ApiClient {
  token: string | undefined;
  orgId = '';

  constructor(readonly url: string) {}

  async request<T = any>(method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response<T>> {
    const response = await fetch(this.url + route, {
      method,
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Plain-text answers (query results, /version) stay text.
    }
    return { status: response.status, body: parsed as T, text };
  }

  async login(credentials = ADMIN): Promise<void> {
    const response = await this.request('POST', '/config/v1/login', credentials);
    if (response.status !== 200) throw new Error(`login failed: ${response.text}`);
    this.token = response.body.auth_token.access_token;
    this.orgId = response.body.orgs[0].uuid;
  }

  /** POSTs SQL to /query and returns the raw text (TabSeparated unless the SQL says FORMAT). */
  async query(sql: string): Promise<Response<any>> {
    return this.request('POST', '/query', sql, { 'content-type': 'text/plain' });
  }

  async waitForJob(jobId: string, until: (status: string) => boolean = (s) => ['done', 'failed', 'canceled'].includes(s), timeoutMs = 60_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await this.request('POST', `/config/v1/orgs/${this.orgId}/jobs/batch/${jobId}/status`);
      const job = response.body[0];
      if (until(job.status)) return job;
      if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.status} after ${timeoutMs} ms: ${JSON.stringify(job.details)}`);
      await delay(50);
    }
  }
}

export interface TestInlet {
  readonly service: Service;
  readonly api: ApiClient;
  readonly dataDir: string;
  stop(options?: { keepData?: boolean }): Promise<void>;
}

/** Starts a whole Inlet (API + workers) in this process on a free port, with its own data dir. */
export async function startInlet(settings: RawSettings = {}, dataDir = mkdtempSync(path.join(tmpdir(), 'inlet-'))): Promise<TestInlet> {
  const config = loadConfig(process.env, {
    host: '127.0.0.1',
    port: '0',
    dataDir,
    adminEmail: ADMIN.username,
    adminPassword: ADMIN.password,
    workers: '2',
    leaseSeconds: '3',
    pollIntervalMs: '50',
    duckdbThreads: '1',
    logLevel: process.env.INLET_TEST_LOG ?? 'silent',
    ...settings,
  });
  const service = await startService(config, createLogger(config.logLevel));
  const api = new ApiClient(service.url!);
  await api.login();
  return {
    service,
    api,
    dataDir,
    stop: async (options = {}) => {
      await service.stop();
      if (!options.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The reference page's set-up: project `website`, table `events`, the CSV (default) and NDJSON transforms. */
export async function createWebsiteEvents(api: ApiClient, transforms: readonly object[]): Promise<{ projectId: string; tableId: string }> {
  const project = await api.request('POST', `/config/v1/orgs/${api.orgId}/projects/`, { name: 'website', description: 'web logs' });
  if (project.status !== 201) throw new Error(`create project: ${project.text}`);
  const base = `/config/v1/orgs/${api.orgId}/projects/${project.body.uuid}/tables/`;
  const table = await api.request('POST', base, { name: 'events', settings: {} });
  if (table.status !== 201) throw new Error(`create table: ${table.text}`);
  for (const transform of transforms) {
    const created = await api.request('POST', `${base}${table.body.uuid}/transforms/`, transform);
    if (created.status !== 201) throw new Error(`create transform: ${created.text}`);
  }
  return { projectId: project.body.uuid, tableId: table.body.uuid };
}

/**
 * s3rver and Inlet with `website.events` (the CSV transform) loaded from one CSV object by a
 * real batch job: the starting point of the query tests.
 */
export async function startWithEvents(bucket: string, csv: string): Promise<{ inlet: TestInlet; s3: LocalS3; stop(): Promise<void> }> {
  const s3 = await startLocalS3();
  const inlet = await startInlet({ s3Endpoint: s3.endpoint });
  await createWebsiteEvents(inlet.api, [CSV_TRANSFORM]);
  await s3.createBucket(bucket);
  await s3.put(bucket, 'data/rows.csv', csv);
  const created = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/jobs/batch`, referenceJob(`load ${bucket}`, `s3://${bucket}/data/`));
  const done = await inlet.api.waitForJob(created.body.uuid);
  if (done.status !== 'done') throw new Error(`loading ${bucket} ended ${done.status}: ${JSON.stringify(done.details)}`);
  return {
    inlet,
    s3,
    stop: async () => {
      await inlet.stop();
      await s3.stop();
    },
  };
}
