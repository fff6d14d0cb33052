import { alreadyLoaded } from '../catalog/ledger.js';
import { jobSettingsOf } from '../catalog/parsed.js';
import type { JobRow, TaskRow } from '../catalog/schema.js';
import { commitListedPart, completeListTask, type PlannedIndexTask, type SkippedObject } from '../catalog/tasks.js';
import { TaskGrouper } from '../jobs/plan.js';
import { compileRegexFilter } from '../jobs/regex-filter.js';
import { listRejects } from '../sources/rejects-source.js';
import type { SourceObject } from '../sources/source-url.js';
import type { WorkerContext } from './context.js';

/** Listed objects between two progress lines in the log. */
const LOG_EVERY = 10_000;
/** Entries left out of a listing that are logged one by one; the rest are counted in its last line. */
const NOT_LISTED_LOGGED = 10;

/**
 * Lists the job's URL a page at a time, keeps what regex_filter matches (on the full URL) up to
 * max_files, sets aside what the table already loaded (the ledger), and groups the rest into
 * INDEX tasks. After each page, the tasks closed so far are committed with the point the listing
 * got to, under the task's lease: they run while the listing goes on, and a listing whose worker
 * died resumes there (`task.list_after`).
 */
export async function runListTask(ctx: WorkerContext, task: TaskRow, job: JobRow, owner: string, signal: AbortSignal): Promise<void> {
  const settings = jobSettingsOf(job);
  const sources = await ctx.sources.forJob(ctx.catalog, job);
  const url = sources.parse(settings.source.settings.url);
  // Checked at creation; an older version stored patterns RE2 refuses, which fail this task with the reason.
  const filter = settings.regex_filter ? compileRegexFilter(settings.regex_filter) : undefined;
  /** Every filter of listed objects goes here: what it drops never reaches a task. */
  const keep = (object: SourceObject): boolean => !filter || filter(object.url);
  /** What the table already loaded, as it is now, is skipped unless the job forces: one lookup per page. */
  const loadedOf = async (page: readonly SourceObject[]): Promise<Map<string, string>> => (settings.force === true ? new Map() : alreadyLoaded(ctx.catalog.db, job.table_id, page.filter(keep)));

  const grouper = new TaskGrouper(settings.input_aggregation);
  // Settled: every object up to `after` is in a committed (or closed) task, or was dropped or skipped.
  let after = task.list_after ?? undefined;
  let kept = Number(task.list_kept);
  let closed: PlannedIndexTask[] = [];
  let skipped: SkippedObject[] = [];
  let skippedTotal = 0;
  let previous = after;
  let listed = 0;
  const full = () => settings.max_files > 0 && kept + grouper.pending >= settings.max_files;
  const resumed = after !== undefined;
  if (resumed) ctx.log.info({ job: job.id, after, kept }, 'listing resumes where an earlier attempt got to');
  // Entries that are no objects (symbolic links in a file:// directory) are not loaded: the operator hears of them.
  let notListed = 0;
  const tellNotListed = (entry: string, why: string) => {
    if (notListed++ < NOT_LISTED_LOGGED) ctx.log.warn({ job: job.id, entry, why }, 'left out of the listing');
  };
  const listing =
    url.scheme === 'rejects'
      ? listRejects(ctx.catalog, job.org_id, url.jobId, after)
      : sources.list(url, signal, { ...(after === undefined ? {} : { after }), pageSize: ctx.config.listPageSize, notListed: tellNotListed });
  pages: for await (const page of listing) {
    const settledBefore = after;
    const loaded = await loadedOf(page);
    for (const object of page) {
      listed++;
      if (listed % LOG_EVERY === 0) ctx.log.info({ job: job.id, listed, kept: kept + grouper.pending, skipped: skippedTotal }, 'listing');
      const loadedBy = keep(object) ? loaded.get(object.url) : undefined;
      if (!keep(object) || loadedBy !== undefined) {
        if (loadedBy !== undefined) {
          skipped.push({ url: object.url, size: object.size, ...(object.version === undefined ? {} : { version: object.version }), loadedBy });
          skippedTotal++;
        }
        if (grouper.pending === 0) after = object.url;
      } else {
        const done = grouper.add(object);
        if (done) {
          closed.push(done);
          kept += done.files.length;
          after = previous;
        }
      }
      previous = object.url;
      if (full()) break pages;
    }
    signal.throwIfAborted();
    if (closed.length > 0 || skipped.length > 0 || after !== settledBefore) {
      await commitListedPart(ctx.catalog, task, owner, { tasks: closed, after, kept, skipped });
      closed = [];
      skipped = [];
    }
  }
  signal.throwIfAborted();
  const last = grouper.flush();
  if (last) closed.push(last);
  await completeListTask(ctx.catalog, task, owner, closed, skipped);
  ctx.log.info({ job: job.id, listed, resumed, kept: kept + (last?.files.length ?? 0), skipped: skippedTotal, ...(notListed > 0 ? { notListed } : {}) }, 'listing done');
}
