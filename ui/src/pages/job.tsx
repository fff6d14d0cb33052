import { useMemo, useRef, useState } from 'preact/hooks';
import { api, FINISHED, orgPath, type FileReport, type Job } from '../api';
import { TimeChart } from '../chart';
import { bytes, duration, number } from '../format';
import { usePoll } from '../poll';
import { Progress, StatusBadge } from './jobs';

/** File reports shown: the API's default page. */
const FILE_PAGE = 1000;
const STATES = ['READY', 'RUNNING', 'DONE', 'FAILED', 'CANCELED'];

interface Sample {
  readonly seconds: number;
  readonly rows: number;
}

/** Rows per second between successive polls: the API keeps no history, so the page keeps what it saw. */
function rates(samples: readonly Sample[]): { times: number[]; values: number[] } {
  const times: number[] = [];
  const values: number[] = [];
  for (let i = 1; i < samples.length; i++) {
    const span = samples[i]!.seconds - samples[i - 1]!.seconds;
    if (span <= 0) continue;
    times.push(samples[i]!.seconds);
    values.push(Math.max(0, (samples[i]!.rows - samples[i - 1]!.rows) / span));
  }
  return { times, values };
}

export function JobPage({ id }: { id: string }) {
  const samples = useRef<Sample[]>([]);
  const finishedSeen = useRef(false);
  const [finished, setFinished] = useState(false);
  const [actionError, setActionError] = useState<string>();
  const [actionNote, setActionNote] = useState<string>();
  const job = usePoll(
    async () => {
      const [current] = await api<Job[]>('GET', orgPath(`/jobs/batch/${id}/status`));
      // Sampled while the job runs, and once as it ends.
      if (current && !(FINISHED.has(current.status) && finishedSeen.current)) {
        samples.current = [...samples.current, { seconds: Date.now() / 1000, rows: current.details.rows.read + current.details.in_flight.rows_read }].slice(-600);
      }
      if (current) {
        finishedSeen.current = FINISHED.has(current.status);
        setFinished(finishedSeen.current);
      }
      return current;
    },
    1000,
    [id],
    !finished,
  );
  const files = usePoll(() => api<FileReport[]>('GET', orgPath(`/jobs/batch/${id}/files?limit=${FILE_PAGE}`)), 2000, [id, finished], !finished);
  const chart = useMemo(() => rates(samples.current), [job.value]);
  const current = job.value;
  const act = async (action: 'cancel' | 'retry') => {
    setActionError(undefined);
    setActionNote(undefined);
    try {
      await api('POST', orgPath(`/jobs/batch/${id}/${action}`));
      setActionNote(action === 'cancel' ? 'Cancel requested.' : 'Retry requested.');
      setFinished(false);
      job.reload();
      files.reload();
    } catch (err) {
      setActionError(`${action} failed: ${(err as Error).message}`);
    }
  };
  if (!current)
    return (
      <section>
        {job.error ? (
          <p class="error" role="alert">
            {job.error}
          </p>
        ) : (
          <p class="muted">Loading…</p>
        )}
      </section>
    );
  const d = current.details;
  const elapsedSeconds = d.duration_ms / 1000;
  return (
    <section>
      <p>
        <a href="#/jobs">← all jobs</a>
      </p>
      <h2>
        {current.name} <StatusBadge status={current.status} />
      </h2>
      <div class="actions">
        <button onClick={() => act('cancel')} disabled={FINISHED.has(current.status)}>
          Cancel
        </button>
        <button onClick={() => act('retry')} disabled={current.status !== 'failed' && current.status !== 'canceled'}>
          Retry
        </button>
        {actionNote && <span class="muted">{actionNote}</span>}
      </div>
      {actionError && (
        <p class="error" role="alert">
          {actionError}
        </p>
      )}
      {job.error && <p class="error">{job.error}</p>}
      <dl class="facts">
        <dt>Table</dt>
        <dd>{current.settings.source.table}</dd>
        <dt>Source</dt>
        <dd class="mono">{current.settings.source.settings.url}</dd>
        <dt>Progress</dt>
        <dd>
          <Progress job={current} />
        </dd>
        <dt>Rows</dt>
        <dd>
          {number(d.rows.written)} written, {number(d.rows.rejected)} rejected
          {d.in_flight.rows_read > 0 && <span class="muted"> (+{number(d.in_flight.rows_read)} in flight)</span>}
        </dd>
        <dt>Read</dt>
        <dd>{bytes(d.bytes_read + d.in_flight.bytes_read)}</dd>
        <dt>Duration</dt>
        <dd>
          {duration(d.duration_ms)}
          {elapsedSeconds > 0 && <span class="muted"> · {number(Math.round(d.rows.read / elapsedSeconds))} rows/s on average</span>}
        </dd>
        <dt>Partitions</dt>
        <dd>
          {number(d.partitions.count)}
          {d.partitions.min_time && (
            <span class="muted">
              {' '}
              · {d.partitions.min_time} → {d.partitions.max_time}
            </span>
          )}
        </dd>
      </dl>
      {d.errors.length > 0 && (
        <div class="card errors">
          <h3>Errors</h3>
          <ul>
            {d.errors.map((e) => (
              <li class="mono">{e}</li>
            ))}
          </ul>
        </div>
      )}
      <h3>Tasks</h3>
      <table class="grid tasks">
        <thead>
          <tr>
            <th>Type</th>
            {STATES.map((s) => (
              <th class="num">{s}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {Object.entries(d.status_detail.tasks).map(([type, counts]) => (
            <tr>
              <td>{type}</td>
              {STATES.map((s) => (
                <td class="num">{counts[s] ?? 0}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Rows per second</h3>
      {chart.times.length >= 2 ? (
        <TimeChart steps times={chart.times} series={[{ label: 'rows/s', values: chart.values }]} />
      ) : (
        <p class="muted">{FINISHED.has(current.status) ? 'The job ended before this page could watch it: see the average above.' : 'Measuring…'}</p>
      )}
      <h3>Files</h3>
      {files.error && <p class="error">{files.error}</p>}
      <FileTable files={files.value ?? []} />
    </section>
  );
}

function FileTable({ files }: { files: FileReport[] }) {
  const [open, setOpen] = useState<string>();
  if (files.length === 0) return <p class="muted">No file reports yet (files are reported as their task commits).</p>;
  return (
    <>
      {files.length >= FILE_PAGE && (
        <p class="muted">
          The first {number(FILE_PAGE)} files; GET …/files?offset={FILE_PAGE} has the rest.
        </p>
      )}
      <table class="grid files">
        <thead>
          <tr>
            <th>File</th>
            <th class="num">Size</th>
            <th class="num">Read</th>
            <th class="num">Written</th>
            <th class="num">Rejected</th>
            <th>Result</th>
          </tr>
        </thead>
        <tbody>
          {files.map((file) => {
            const problem = file.error !== null || file.rows_rejected > 0;
            return [
              <tr class={file.error ? 'failed' : ''} data-url={file.url}>
                <td class="mono">{file.url}</td>
                <td class="num">{bytes(file.bytes)}</td>
                <td class="num">{number(file.rows_read)}</td>
                <td class="num">{number(file.rows_written)}</td>
                <td class="num">{number(file.rows_rejected)}</td>
                <td>
                  {problem ? (
                    <button class="link" onClick={() => setOpen(open === file.url ? undefined : file.url)}>
                      {file.error ? 'error' : 'rejects'} {open === file.url ? '▾' : '▸'}
                    </button>
                  ) : (
                    'ok'
                  )}
                </td>
              </tr>,
              open === file.url && (
                <tr class="detail">
                  <td colSpan={6}>
                    {file.error && <pre class="file-error">{file.error}</pre>}
                    {file.rejects.length > 0 && (
                      <ul class="rejects">
                        {file.rejects.map((r) => (
                          <li>
                            line {r.line ?? '?'}
                            {r.column ? `, column ${r.column}` : ''}: {r.reason}
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                </tr>
              ),
            ];
          })}
        </tbody>
      </table>
    </>
  );
}
