import { useState } from 'preact/hooks';
import { api, orgPath, type Job } from '../api';
import { age, number } from '../format';
import { usePoll } from '../poll';
import { SubmitJob } from './submit';

const STATUSES = ['ready', 'running', 'done', 'failed', 'canceled'];

export function Progress({ job }: { job: Job }) {
  const fraction = job.details.status_detail.percent_complete;
  return (
    <span class="progress" title={job.details.status_detail.estimated ? 'listing files…' : undefined}>
      <span class={`bar ${job.status}`} style={{ width: `${Math.round(fraction * 100)}%` }} />
      <span class="label">{job.details.status_detail.estimated && job.status !== 'done' ? 'listing' : `${Math.floor(fraction * 100)}%`}</span>
    </span>
  );
}

export const StatusBadge = ({ status }: { status: string }) => <span class={`badge ${status}`}>{status}</span>;

export function JobsPage() {
  const [status, setStatus] = useState('');
  const [table, setTable] = useState('');
  const jobs = usePoll(() => api<Job[]>('GET', orgPath('/jobs/batch/')), 2000, []);
  const all = jobs.value ?? [];
  const tables = [...new Set(all.map((j) => j.settings.source.table))].sort();
  const shown = all.filter((j) => (!status || j.status === status) && (!table || j.settings.source.table === table)).sort((a, b) => b.created.localeCompare(a.created));
  return (
    <section>
      <h2>Batch jobs</h2>
      <SubmitJob onSubmitted={jobs.reload} />
      <div class="filters">
        <label>
          Status
          <select name="status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">all</option>
            {STATUSES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Table
          <select name="table" value={table} onChange={(e) => setTable(e.currentTarget.value)}>
            <option value="">all</option>
            {tables.map((t) => (
              <option value={t}>{t}</option>
            ))}
          </select>
        </label>
        <span class="muted">updates every 2 s</span>
      </div>
      {jobs.error && (
        <p class="error" role="alert">
          {jobs.error}
        </p>
      )}
      <table class="grid jobs">
        <thead>
          <tr>
            <th>Name</th>
            <th>Table</th>
            <th>Status</th>
            <th>Progress</th>
            <th class="num">Rows written</th>
            <th class="num">Rejected</th>
            <th>Age</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((job) => (
            <tr data-job={job.uuid}>
              <td>
                <a href={`#/jobs/${job.uuid}`}>{job.name}</a>
              </td>
              <td>{job.settings.source.table}</td>
              <td>
                <StatusBadge status={job.status} />
              </td>
              <td>
                <Progress job={job} />
              </td>
              <td class="num">{number(job.details.rows.written)}</td>
              <td class="num">{number(job.details.rows.rejected)}</td>
              <td title={job.created}>{age(job.created)}</td>
            </tr>
          ))}
          {jobs.value && shown.length === 0 && (
            <tr>
              <td colSpan={7} class="muted">
                No jobs{status || table ? ' match the filters' : ' yet'}.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
