import type { JobRow } from '../catalog/schema.js';
import { alreadyLoaded } from '../catalog/ledger.js';
import type { PlannedIndexTask, SkippedObject } from '../catalog/tasks.js';
import { groupIntoTasks } from '../jobs/plan.js';
import { compileRegexFilter } from '../jobs/regex-filter.js';
import type { JobSettings } from '../jobs/settings.js';
import type { SourceObject } from '../sources/source-url.js';
import type { WorkerContext } from './context.js';

/**
 * Lists the job's URL, keeps what regex_filter matches (on the full URL) up to max_files, sets
 * aside what the table already loaded, and groups the rest into INDEX tasks.
 */
export async function runListTask(ctx: WorkerContext, job: JobRow, signal: AbortSignal): Promise<{ tasks: PlannedIndexTask[]; skipped: SkippedObject[] }> {
  const settings = JSON.parse(job.settings) as JobSettings;
  const sources = await ctx.sources.forJob(ctx.catalog, job);
  const url = sources.parse(settings.source.settings.url);
  // Checked at creation; an older version stored patterns RE2 refuses, which fail this task with the reason.
  const filter = settings.regex_filter ? compileRegexFilter(settings.regex_filter) : undefined;
  const objects: SourceObject[] = [];
  let listed = 0;
  for await (const object of sources.list(url, signal)) {
    listed++;
    if (listed % 10_000 === 0) ctx.log.info({ job: job.id, listed, kept: objects.length }, 'listing');
    if (filter && !filter(object.url)) continue;
    objects.push(object);
    if (settings.max_files > 0 && objects.length >= settings.max_files) break;
  }
  signal.throwIfAborted();
  // What the table already loaded, as it is now, is skipped unless the job forces (see the ledger).
  const loaded = settings.force === true ? new Map<string, string>() : await alreadyLoaded(ctx.catalog.db, job.table_id, objects);
  const skipped: SkippedObject[] = [];
  for (const object of objects) {
    const loadedBy = loaded.get(object.url);
    if (loadedBy !== undefined) skipped.push({ url: object.url, size: object.size, ...(object.version === undefined ? {} : { version: object.version }), loadedBy });
  }
  const tasks = groupIntoTasks(loaded.size === 0 ? objects : objects.filter((o) => !loaded.has(o.url)), settings.input_aggregation);
  ctx.log.info({ job: job.id, listed, kept: objects.length, skipped: skipped.length, tasks: tasks.length }, 'listing done');
  return { tasks, skipped };
}
