import type { JobRow } from '../catalog/schema.js';
import type { PlannedIndexTask } from '../catalog/tasks.js';
import { groupIntoTasks } from '../jobs/plan.js';
import type { JobSettings } from '../jobs/settings.js';
import type { SourceObject } from '../sources/source-url.js';
import type { WorkerContext } from './context.js';

/** Lists the job's URL, keeps what regex_filter matches (on the full URL) up to max_files, and groups it into INDEX tasks. */
export async function runListTask(ctx: WorkerContext, job: JobRow, signal: AbortSignal): Promise<PlannedIndexTask[]> {
  const settings = JSON.parse(job.settings) as JobSettings;
  const sources = await ctx.sources.forJob(ctx.catalog, job);
  const url = sources.parse(settings.source.settings.url);
  const filter = settings.regex_filter ? new RegExp(settings.regex_filter) : undefined;
  const objects: SourceObject[] = [];
  let listed = 0;
  for await (const object of sources.list(url, signal)) {
    listed++;
    if (listed % 10_000 === 0) ctx.log.info({ job: job.id, listed, kept: objects.length }, 'listing');
    if (filter && !filter.test(object.url)) continue;
    objects.push(object);
    if (settings.max_files > 0 && objects.length >= settings.max_files) break;
  }
  signal.throwIfAborted();
  const tasks = groupIntoTasks(objects, settings.input_aggregation);
  ctx.log.info({ job: job.id, listed, kept: objects.length, tasks: tasks.length }, 'listing done');
  return tasks;
}
