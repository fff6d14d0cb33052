import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireCredential } from '../../catalog/credentials.js';
import { createJob, deleteJob, getJob, jobFiles, jobProgress, listJobs, retryJob, undoJob } from '../../catalog/jobs.js';
import { jobTransformDoc } from '../../catalog/parsed.js';
import { findProjectByName, findTableByName, findTransform } from '../../catalog/resources.js';
import type { JobRow } from '../../catalog/schema.js';
import { cancelJobTasks } from '../../catalog/tasks.js';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.js';
import { JOB_BODY_KEYS, normaliseJobSettings } from '../../jobs/settings.js';
import { rejectUnknownKeys } from '../../known-keys.js';
import type { ApiContext } from '../context.js';
import { RefreshingCache } from '../../ttl-cache.js';
import { fileView, jobView } from '../views.js';
import { checkedDescription, checkedName } from '../../names.js';

/** Files with rejects or errors shown inside a job; all files are at .../files. */
const PROBLEM_FILES_SHOWN = 100;
/**
 * A polled job view is reused for config.statusCacheMs; changes made through this process show
 * at once. Up to this many times as long, pollers get the last view while one of them has it
 * recomputed.
 */
const VIEW_STALE_FACTOR = 4;

export function jobRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { catalog } = ctx;
  const base = '/config/v1/orgs/:org/jobs/batch';

  // A user belongs to exactly one org (users.org_id references it), so no query is needed here.
  const orgId = async (request: FastifyRequest): Promise<string> => {
    const id = (request.params as { org: string }).org;
    if (request.user!.org_id !== id) throw new NotFoundError(`org ${id} not found`);
    return id;
  };
  const job = async (request: FastifyRequest): Promise<JobRow> => getJob(catalog, await orgId(request), (request.params as { job: string }).job);
  const view = async (row: JobRow) => jobView(row, await jobProgress(catalog, row.id), await jobFiles(catalog, row.id, { onlyProblems: true, limit: PROBLEM_FILES_SHOWN, offset: 0 }));

  // Dashboards poll status: one view per job at a time is computed, and serves every poller,
  // already serialized (as the job, and as status's one-element array).
  const views = new RefreshingCache<string, { job: string; status: string }>(1000, ctx.config.statusCacheMs, ctx.config.statusCacheMs * VIEW_STALE_FACTOR);
  const viewKey = (org: string, jobId: string) => `${org}/${jobId}`;
  const cachedView = async (request: FastifyRequest) => {
    const key = viewKey(await orgId(request), (request.params as { job: string }).job);
    let computed = false;
    const answer = await views.get(key, async () => {
      computed = true;
      const json = JSON.stringify(await view(await job(request)));
      return { job: json, status: `[${json}]` };
    });
    ctx.metrics.statusCache.inc({ result: computed ? 'miss' : 'hit' });
    return answer;
  };
  const sendJson = (reply: FastifyReply, json: string) => reply.type('application/json; charset=utf-8').send(json);
  const forget = (row: JobRow) => views.delete(viewKey(row.org_id, row.id));
  // A task just committed: its job's state may have moved on (done, failed), so pollers see it now, not a beat later.
  ctx.onJobChanged((org, jobId) => views.delete(viewKey(org, jobId)));

  app.post<{ Body: Record<string, unknown> }>(
    base,
    {
      schema: {
        body: {
          type: 'object',
          required: ['name', 'settings'],
          properties: { name: { type: 'string', minLength: 1 }, description: { type: ['string', 'null'] }, type: { type: 'string' }, settings: { type: 'object' } },
        },
      },
    },
    async (request) => {
      const org = await orgId(request);
      const body = request.body;
      rejectUnknownKeys(body, JOB_BODY_KEYS, '');
      if (body.type !== undefined && body.type !== 'batch_import') throw new ValidationError(`type is ${JSON.stringify(body.type)}: batch jobs only accept "batch_import"`);
      const name = checkedName(body.name, 'the job');
      const description = checkedDescription(body.description) ?? null;
      const settings = normaliseJobSettings(body.settings);
      const source = ctx.sources.parse(settings.source.settings.url);
      // A replay reads a job's quarantine: only a job of this org, another org's reads as missing.
      if (source.scheme === 'rejects') {
        await getJob(catalog, org, source.jobId).catch(() => {
          throw new NotFoundError(`settings.source.settings.url is ${settings.source.settings.url}: batch job ${source.jobId} not found in this org; replay the rejects of one of its jobs`);
        });
      }
      await requireCredential(catalog, org, settings.source.settings.credential_id, 'settings.source.settings.credential_id');
      const [projectName, tableName] = settings.source.table.split('.') as [string, string];
      const table = await findTableByName(catalog, org, projectName, tableName);
      if (!table) {
        const project = await findProjectByName(catalog, org, projectName);
        throw new ValidationError(
          project
            ? `settings.source.table "${settings.source.table}": project "${projectName}" has no table "${tableName}"; create it first`
            : `settings.source.table "${settings.source.table}": there is no project "${projectName}" in this org; create it first`,
        );
      }
      const transform = await findTransform(catalog, table, settings.source.transform);
      if (!transform) {
        throw new ValidationError(
          settings.source.transform === undefined
            ? `settings.source.transform is not given and table "${settings.source.table}" has no default transform: name one, or mark one with "is_default": true`
            : `settings.source.transform "${settings.source.transform}": table "${settings.source.table}" has no transform of that name`,
        );
      }
      const { job: created, progress } = await createJob(catalog, {
        org_id: org,
        name,
        description,
        type: 'batch_import',
        settings: JSON.stringify({ ...settings, source: { ...settings.source, transform: transform.name } }),
        table_id: table.id,
        transform_id: transform.id,
        transform_doc: jobTransformDoc(transform),
        concurrency: settings.input_concurrency,
      });
      // The answer is the job as created (no files yet), whatever a worker does once nudged.
      const answer = jobView(created, progress, []);
      ctx.nudgeWorkers();
      return answer;
    },
  );

  app.get(base, async (request) => Promise.all((await listJobs(catalog, await orgId(request))).map(view)));
  app.get(`${base}/:job`, async (request, reply) => sendJson(reply, (await cachedView(request)).job));
  app.delete(`${base}/:job`, async (request, reply) => {
    const row = await job(request);
    await deleteJob(catalog, row);
    forget(row);
    return reply.status(204).send();
  });

  // The reference page POSTs to status; GET works too. Both answer an array holding the job.
  for (const method of ['GET', 'POST'] as const) {
    app.route({ method, url: `${base}/:job/status`, handler: async (request, reply) => sendJson(reply, (await cachedView(request)).status) });
  }

  app.post(`${base}/:job/cancel`, async (request) => {
    const row = await job(request);
    forget(row);
    if (!(await cancelJobTasks(catalog, row.id))) {
      throw new ConflictError(`batch job "${row.name}" is already ${row.status}: only ready or running jobs can be canceled`);
    }
    return view(await getJob(catalog, row.org_id, row.id));
  });

  // Hydrolix's path, which its CLI's `job batch retry` calls.
  app.post(`${base}/:job/retry`, async (request) => {
    const row = await job(request);
    forget(row);
    await retryJob(catalog, row);
    ctx.nudgeWorkers();
    return view(await getJob(catalog, row.org_id, row.id));
  });

  app.post(`${base}/:job/undo`, async (request) => {
    const row = await job(request);
    forget(row);
    await undoJob(catalog, row);
    return view(await getJob(catalog, row.org_id, row.id));
  });

  app.get<{ Querystring: { limit?: number; offset?: number; problems?: boolean } }>(
    `${base}/:job/files`,
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 }, offset: { type: 'integer', minimum: 0, maximum: 2147483647, default: 0 }, problems: { type: 'boolean', default: false } },
        },
      },
    },
    async (request) => {
      const row = await job(request);
      const { limit = 1000, offset = 0, problems = false } = request.query;
      return (await jobFiles(catalog, row.id, { onlyProblems: problems, limit, offset })).map(fileView);
    },
  );
}
