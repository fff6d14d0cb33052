import cliProgress from 'cli-progress';
import { setTimeout as delay } from 'node:timers/promises';
import { UnreachableError, type InletClient } from './client.js';
import { formatBytes, formatCount, formatSeconds, out, printable } from './output.js';

/** The parts of a job's status view the display reads. */
export interface JobStatusView {
  uuid: string;
  name: string;
  status: string;
  details: {
    errors: string[];
    duration_ms: number;
    status_detail: { tasks: Record<string, Record<string, number> | undefined>; estimated: boolean; percent_complete: number };
    rows: { read: number; written: number; rejected: number };
    bytes_read: number;
    files: { url: string; rows_rejected: number; error: string | null }[];
  };
}

/** How a watched job ended, as the process's exit code. */
export const EXIT_CODES: Readonly<Record<string, number>> = { done: 0, failed: 1, canceled: 2 };
const TERMINAL = Object.keys(EXIT_CODES);

/** Rates are over this recent span, so a stall shows as a falling rate rather than a flat average. */
const RATE_WINDOW_MS = 10_000;
/** A server restart mid-job is ridden out for this long before the watch gives up. */
const UNREACHABLE_GRACE_MS = 30_000;

interface Sample {
  at: number;
  rows: number;
  bytes: number;
}

interface Figures {
  status: string;
  tasks: string;
  percent: number;
  rows: number;
  rowRate: number;
  bytes: number;
  byteRate: number;
  rejects: number;
  eta: string;
}

function indexTasks(job: JobStatusView): string {
  const index = job.details.status_detail.tasks.INDEX ?? {};
  const total = Object.values(index).reduce((sum, n) => sum + (n ?? 0), 0);
  const ended = (index.DONE ?? 0) + (index.FAILED ?? 0) + (index.CANCELED ?? 0);
  return `${ended}/${total}${job.details.status_detail.estimated ? '+' : ''}`;
}

function figuresOf(job: JobStatusView, samples: readonly Sample[]): Figures {
  const last = samples.at(-1)!;
  const first = samples.find((s) => last.at - s.at <= RATE_WINDOW_MS) ?? last;
  const seconds = (last.at - first.at) / 1000;
  const percent = job.details.status_detail.percent_complete;
  const estimated = job.details.status_detail.estimated;
  const etaSeconds = !estimated && percent > 0 && percent < 1 ? ((job.details.duration_ms / 1000) * (1 - percent)) / percent : NaN;
  return {
    status: job.status,
    tasks: indexTasks(job),
    percent,
    rows: job.details.rows.read,
    rowRate: seconds > 0 ? (last.rows - first.rows) / seconds : 0,
    bytes: job.details.bytes_read,
    byteRate: seconds > 0 ? (last.bytes - first.bytes) / seconds : 0,
    rejects: job.details.rows.rejected,
    eta: TERMINAL.includes(job.status) ? '0 s' : estimated ? 'listing' : formatSeconds(etaSeconds),
  };
}

/** A plain line per change, for pipes, CI logs and files: no cursor movement. */
function plainLine(f: Figures): string {
  return [
    `${new Date().toISOString().slice(11, 19)} ${f.status}`,
    `tasks ${f.tasks}`,
    `${Math.floor(f.percent * 100)}%`,
    `rows ${formatCount(f.rows)} (${formatCount(f.rowRate)}/s)`,
    `bytes ${formatBytes(f.bytes)} (${formatBytes(f.byteRate)}/s)`,
    `rejects ${formatCount(f.rejects)}`,
    `ETA ${f.eta}`,
  ].join('  ');
}

interface Display {
  update(f: Figures): void;
  line(text: string): void;
  stop(): void;
}

function terminalDisplay(): Display {
  const bars = new cliProgress.MultiBar(
    {
      // `remaining`, not `eta`: cli-progress fills {eta} with its own estimate, which knows nothing of listing.
      format: '{bar} {percentage}% {status} | tasks {tasks} | rows {rows} {rowRate}/s | {bytes} {byteRate}/s | rejects {rejects} | ETA {remaining}',
      barsize: 20,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = bars.create(100, 0, {});
  let stopped = false;
  return {
    update: (f) => {
      bar.update(Math.floor(f.percent * 100), {
        status: f.status,
        tasks: f.tasks,
        rows: formatCount(f.rows),
        rowRate: formatCount(f.rowRate),
        bytes: formatBytes(f.bytes),
        byteRate: formatBytes(f.byteRate),
        rejects: formatCount(f.rejects),
        remaining: f.eta,
      });
      // Redraws now, which also writes the lines logged since the last redraw (they wait for one).
      bars.update();
    },
    line: (text) => bars.log(`${text}\n`),
    stop: () => {
      if (stopped) return;
      stopped = true;
      bars.update();
      bars.stop();
    },
  };
}

function plainDisplay(): Display {
  let previous = '';
  return {
    update: (f) => {
      // Only lines that say something new: a stalled job does not fill a log.
      const key = JSON.stringify([f.status, f.tasks, f.percent, f.rows, f.bytes, f.rejects]);
      if (key === previous) return;
      previous = key;
      out(plainLine(f));
    },
    line: out,
    stop: () => undefined,
  };
}

/**
 * Follows a job until it ends: progress, one line per failed file or task error, then a
 * summary. Answers the exit code that says how the job ended.
 */
export async function watchJob(client: InletClient, orgPath: string, jobId: string, options: { intervalMs: number; terminal: boolean }): Promise<number> {
  const route = `${orgPath}/jobs/batch/${encodeURIComponent(jobId)}/status`;
  const display = options.terminal ? terminalDisplay() : plainDisplay();
  const samples: Sample[] = [];
  const reported = new Set<string>();
  let unreachableSince: number | undefined;
  try {
    for (;;) {
      let job: JobStatusView;
      try {
        [job] = (await client.request<JobStatusView[]>('POST', route)) as [JobStatusView];
        unreachableSince = undefined;
      } catch (error) {
        if (!(error instanceof UnreachableError)) throw error;
        unreachableSince ??= Date.now();
        if (Date.now() - unreachableSince > UNREACHABLE_GRACE_MS) throw error;
        await delay(options.intervalMs);
        continue;
      }
      const now = Date.now();
      samples.push({ at: now, rows: job.details.rows.read, bytes: job.details.bytes_read });
      while (samples.length > 2 && now - samples[1]!.at > RATE_WINDOW_MS) samples.shift();
      for (const file of job.details.files) {
        if (file.error !== null && !reported.has(`file ${file.url}`)) {
          reported.add(`file ${file.url}`);
          display.line(printable(`failed file ${file.url}: ${file.error}`));
        }
      }
      for (const message of job.details.errors) {
        if (!reported.has(`error ${message}`)) {
          reported.add(`error ${message}`);
          display.line(printable(`error: ${message}`));
        }
      }
      display.update(figuresOf(job, samples));
      if (TERMINAL.includes(job.status)) {
        display.stop();
        out(summary(job));
        return EXIT_CODES[job.status]!;
      }
      await delay(options.intervalMs);
    }
  } finally {
    display.stop();
  }
}

export function summary(job: JobStatusView): string {
  const { rows, duration_ms: durationMs, bytes_read: bytes, files, errors } = job.details;
  const seconds = durationMs / 1000;
  const failedFiles = files.filter((f) => f.error !== null).length;
  return (
    `job ${job.uuid} ${job.status} in ${formatSeconds(seconds)}: ` +
    `${formatCount(rows.read)} rows read, ${formatCount(rows.written)} written, ${formatCount(rows.rejected)} rejected; ` +
    `${formatBytes(bytes)} read (${formatBytes(seconds > 0 ? bytes / seconds : 0)}/s)` +
    (failedFiles > 0 ? `; ${failedFiles} file${failedFiles === 1 ? '' : 's'} failed` : '') +
    (errors.length > 0 ? `; ${errors.length} error${errors.length === 1 ? '' : 's'}` : '')
  );
}
