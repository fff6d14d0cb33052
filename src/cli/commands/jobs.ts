import type { Command } from 'commander';
import { ValidationError } from '../../errors.js';
import { JOB_DEFAULTS } from '../../jobs/settings.js';
import { action, clientCommand, openSession, parseIntFlag, readJsonFile, type ClientOptions, type Session } from '../command.js';
import { formatBytes, formatCount, formatSeconds, out, printJson, printRecord, printTable } from '../output.js';
import { summary, watchJob, type JobStatusView } from '../watch.js';

/** Job settings that take a whole number, as flags: max_files → --max-files. */
const NUMERIC_SETTINGS = (Object.keys(JOB_DEFAULTS) as (keyof typeof JOB_DEFAULTS)[]).filter((key) => typeof JOB_DEFAULTS[key] === 'number');
const flagOf = (key: string) => `--${key.replaceAll('_', '-')}`;
const optionOf = (key: string) => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

interface WatchOptions extends ClientOptions {
  watch?: boolean;
  interval: string;
}

interface SubmitOptions extends WatchOptions {
  file?: string;
  table?: string;
  url?: string;
  transform?: string;
  name?: string;
  description?: string;
  dryRun?: boolean;
  regexFilter?: string;
  [setting: string]: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The create-job body: --file's, with every flag given set on it. */
async function submitBody(options: SubmitOptions): Promise<Record<string, unknown>> {
  const body = options.file !== undefined ? await readJsonFile(options.file) : {};
  const settings = isObject(body.settings) ? body.settings : (body.settings = {});
  const source = isObject(settings.source) ? settings.source : (settings.source = { type: 'batch', subtype: 'aws s3' });
  const sourceSettings = isObject(source.settings) ? source.settings : (source.settings = {});
  if (options.table !== undefined) source.table = options.table;
  if (options.transform !== undefined) source.transform = options.transform;
  if (options.url !== undefined) sourceSettings.url = options.url;
  for (const key of NUMERIC_SETTINGS) {
    const value = options[optionOf(key)];
    if (typeof value === 'string') settings[key] = parseIntFlag(flagOf(key), value, key === 'max_files' ? 0 : 1);
  }
  if (options.dryRun) settings.dry_run = true;
  if (options.regexFilter !== undefined) settings.regex_filter = options.regexFilter;
  if (typeof source.table !== 'string') throw new ValidationError('no table: give --table PROJECT.TABLE (or settings.source.table in --file)');
  if (typeof sourceSettings.url !== 'string') throw new ValidationError('no source: give --url s3://bucket/prefix/ or file:///path (or settings.source.settings.url in --file)');
  body.type ??= 'batch_import';
  if (options.name !== undefined) body.name = options.name;
  body.name ??= `${source.table} from ${sourceSettings.url}`;
  if (options.description !== undefined) body.description = options.description;
  return body;
}

function watchFlags(command: Command): Command {
  return command.option('--interval <ms>', 'how often --watch asks for the status', '1000');
}

async function follow(session: Session, jobId: string, options: WatchOptions): Promise<number> {
  return watchJob(session.client, session.orgPath, jobId, { intervalMs: parseIntFlag('--interval', options.interval, 100), terminal: process.stdout.isTTY === true });
}

const jobPath = (session: Session, id: string, suffix = '') => `${session.orgPath}/jobs/batch/${encodeURIComponent(id)}${suffix}`;

function statusRows(job: JobStatusView): [string, unknown][] {
  const { details } = job;
  const index = details.status_detail.tasks.INDEX ?? {};
  return [
    ['uuid', job.uuid],
    ['name', job.name],
    ['status', job.status],
    ['percent complete', `${Math.floor(details.status_detail.percent_complete * 100)}%${details.status_detail.estimated ? ' (listing)' : ''}`],
    [
      'INDEX tasks',
      Object.entries(index)
        .map(([state, n]) => `${state} ${n}`)
        .join(', '),
    ],
    ['rows read / written / rejected', `${formatCount(details.rows.read)} / ${formatCount(details.rows.written)} / ${formatCount(details.rows.rejected)}`],
    ['bytes read', formatBytes(details.bytes_read)],
    ['duration', formatSeconds(details.duration_ms / 1000)],
    ['errors', details.errors.join('\n')],
    ['files with problems', details.files.map((f) => `${f.url}: ${f.error ?? `${f.rows_rejected} rejected`}`).join('\n')],
  ];
}

export function registerJobs(program: Command): void {
  const job = program.command('job').description('submit, follow, cancel and delete batch jobs');
  job.addHelpText('after', '\nExample:\n  $ inlet job submit --table website.events --url s3://logs/2024/01/ --watch\n');

  const submit = job
    .command('submit')
    .description('create a batch job; answers its id, or with --watch follows it to the end (exit 0 done, 1 failed, 2 canceled)')
    .option('--table <project.table>', 'the table to load, e.g. website.events')
    .option('--url <url>', 'the source: s3://bucket/prefix/, s3://bucket/key, or file:///path/')
    .option('--transform <name>', "the transform (default: the table's default transform)")
    .option('--name <name>', 'job name (default: "<table> from <url>")')
    .option('--description <text>', 'job description')
    .option('--file <path>', 'a create-job JSON body ("-" for stdin); flags override its fields');
  for (const key of NUMERIC_SETTINGS) submit.option(`${flagOf(key)} <n>`, `settings.${key} (default ${JOB_DEFAULTS[key]})`);
  submit
    .option('--regex-filter <regex>', 'settings.regex_filter: only load object URLs it matches')
    .option('--dry-run', 'settings.dry_run: read and convert, write nothing')
    .option('--watch', 'follow the job with a live progress display until it ends');
  clientCommand(watchFlags(submit), 'inlet job submit --table website.events --url s3://logs/2024/01/ --max-files 100 --watch').action(
    action(async (options: SubmitOptions) => {
      const body = await submitBody(options);
      const session = await openSession(options);
      const created = await session.client.request<JobStatusView>('POST', `${session.orgPath}/jobs/batch`, { json: body });
      if (!options.watch) {
        if (options.json) printJson(created);
        else out(created.uuid);
        return;
      }
      out(`job ${created.uuid} submitted`);
      return follow(session, created.uuid, options);
    }),
  );

  clientCommand(job.command('list').description("list your org's batch jobs"), 'inlet job list').action(
    action(async (options: ClientOptions) => {
      const session = await openSession(options);
      const jobs = await session.client.request<(JobStatusView & { created: string })[]>('GET', `${session.orgPath}/jobs/batch`);
      if (options.json) return printJson(jobs);
      printTable(
        ['uuid', 'name', 'status', 'complete', 'rows written', 'rejected', 'created'],
        jobs.map((j) => [j.uuid, j.name, j.status, `${Math.floor(j.details.status_detail.percent_complete * 100)}%`, formatCount(j.details.rows.written), formatCount(j.details.rows.rejected), j.created]),
      );
    }),
  );

  clientCommand(job.command('show').description('show a batch job: settings and details').argument('<id>', 'job uuid'), 'inlet job show 0b7c…').action(
    action(async (id: string, options: ClientOptions) => {
      const session = await openSession(options);
      const answer = await session.client.request<Record<string, unknown>>('GET', jobPath(session, id));
      if (options.json) printJson(answer);
      else printRecord(answer);
    }),
  );

  clientCommand(
    watchFlags(
      job
        .command('status')
        .description('show how far a job is; --watch follows it to the end (exit 0 done, 1 failed, 2 canceled)')
        .argument('<id>', 'job uuid')
        .option('--watch', 'follow the job with a live progress display until it ends'),
    ),
    'inlet job status 0b7c… --watch',
  ).action(
    action(async (id: string, options: WatchOptions) => {
      const session = await openSession(options);
      if (options.watch) return follow(session, id, options);
      const [answer] = await session.client.request<JobStatusView[]>('POST', jobPath(session, id, '/status'));
      if (options.json) return printJson(answer);
      printRecord(Object.fromEntries(statusRows(answer!)));
    }),
  );

  clientCommand(job.command('cancel').description('cancel a ready or running job (what it loaded stays)').argument('<id>', 'job uuid'), 'inlet job cancel 0b7c…').action(
    action(async (id: string, options: ClientOptions) => {
      const session = await openSession(options);
      const answer = await session.client.request<JobStatusView>('POST', jobPath(session, id, '/cancel'));
      if (options.json) printJson(answer);
      else out(summary(answer));
    }),
  );

  clientCommand(job.command('delete').description('delete a job and its records (loaded data stays)').argument('<id>', 'job uuid'), 'inlet job delete 0b7c…', { json: false }).action(
    action(async (id: string, options: ClientOptions) => {
      const session = await openSession(options);
      await session.client.request('DELETE', jobPath(session, id));
      out(`deleted job ${id}`);
    }),
  );

  clientCommand(job.command('retry').description("run a failed or canceled job's failed tasks again").argument('<id>', 'job uuid'), 'inlet job retry 0b7c…').action(
    action(async (id: string, options: ClientOptions) => {
      const session = await openSession(options);
      const answer = await session.client.request<JobStatusView>('POST', jobPath(session, id, '/retry'));
      if (options.json) printJson(answer);
      else out(`job ${answer.uuid} ${answer.status}`);
    }),
  );

  clientCommand(job.command('undo').description("take a job's loaded rows back out of its table (its files may be loaded again)").argument('<id>', 'job uuid'), 'inlet job undo 0b7c…').action(
    action(async (id: string, options: ClientOptions) => {
      const session = await openSession(options);
      const answer = await session.client.request<JobStatusView>('POST', jobPath(session, id, '/undo'));
      if (options.json) printJson(answer);
      else out(`job ${answer.uuid} undone`);
    }),
  );
}
