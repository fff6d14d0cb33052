import { useState } from 'preact/hooks';
import { api, orgPath, query, type QueryAnswer } from '../api';
import { TimeChart } from '../chart';
import { number, sqlName } from '../format';
import { usePoll } from '../poll';

interface Project {
  uuid: string;
  name: string;
}
interface Table {
  uuid: string;
  name: string;
  project: string;
  primary_key: string | null;
}
interface Transform {
  uuid: string;
  name: string;
  type: string;
  settings: { is_default?: boolean };
}
interface Entry {
  project: Project;
  table: Table;
}

export function TablesPage() {
  const [chosen, setChosen] = useState<Entry>();
  const tables = usePoll(
    async () => {
      const projects = await api<Project[]>('GET', orgPath('/projects/'));
      const lists = await Promise.all(projects.map(async (project) => (await api<Table[]>('GET', orgPath(`/projects/${project.uuid}/tables/`))).map((table) => ({ project, table }))));
      return lists.flat();
    },
    10_000,
    [],
  );
  return (
    <section>
      <h2>Tables</h2>
      {tables.error && <p class="error">{tables.error}</p>}
      <div class="split">
        <ul class="table-list">
          {(tables.value ?? []).map((entry) => (
            <li>
              <button class={`link ${chosen?.table.uuid === entry.table.uuid ? 'chosen' : ''}`} onClick={() => setChosen(entry)}>
                {entry.project.name}.{entry.table.name}
              </button>
            </li>
          ))}
          {tables.value?.length === 0 && <li class="muted">No tables yet: create one with the API or `inlet table create`.</li>}
        </ul>
        {chosen ? <TableDetail key={chosen.table.uuid} entry={chosen} /> : <p class="muted">Choose a table.</p>}
      </div>
    </section>
  );
}

function TableDetail({ entry }: { entry: Entry }) {
  const name = `${sqlName(entry.project.name)}.${sqlName(entry.table.name)}`;
  const ts = entry.table.primary_key;
  const transforms = usePoll(() => api<Transform[]>('GET', orgPath(`/projects/${entry.project.uuid}/tables/${entry.table.uuid}/transforms/`)), 0, [entry.table.uuid], false);
  const summary = usePoll(() => query(ts ? `SELECT count() AS rows, min(${sqlName(ts)}) AS min_time, max(${sqlName(ts)}) AS max_time FROM ${name}` : `SELECT count() AS rows FROM ${name}`), 0, [name], false);
  const hourly = usePoll(
    (): Promise<QueryAnswer | undefined> => (ts ? query(`SELECT toStartOfHour(${sqlName(ts)}) AS hour, count() AS rows FROM ${name} GROUP BY hour ORDER BY hour LIMIT 10000`) : Promise.resolve(undefined)),
    0,
    [name],
    false,
  );
  const row = summary.value?.data[0] ?? {};
  const points = hourly.value?.data ?? [];
  return (
    <div class="table-detail">
      <h3>
        {entry.project.name}.{entry.table.name}
      </h3>
      {summary.error && <p class="error">{summary.error}</p>}
      <dl class="facts">
        <dt>Rows</dt>
        <dd>{summary.value ? number(Number(row.rows)) : '…'}</dd>
        <dt>Partitions</dt>
        <dd>{summary.value ? number(summary.value.statistics?.partitions_considered) : '…'}</dd>
        <dt>Time range</dt>
        <dd>{row.min_time ? `${String(row.min_time)} → ${String(row.max_time)}` : '—'}</dd>
        <dt>Primary timestamp</dt>
        <dd class="mono">{ts ?? '— (no transform yet)'}</dd>
        <dt>Transforms</dt>
        <dd>
          {(transforms.value ?? []).map((t) => (
            <span class="tag">
              {t.name}{' '}
              <span class="muted">
                ({t.type}
                {t.settings.is_default ? ', default' : ''})
              </span>
            </span>
          ))}
        </dd>
      </dl>
      <h4>Rows per hour</h4>
      {hourly.error && <p class="error">{hourly.error}</p>}
      <TimeChart bars times={points.map((p) => Date.parse(`${String(p.hour).replace(' ', 'T')}Z`) / 1000)} series={[{ label: 'rows', values: points.map((p) => Number(p.rows)) }]} />
    </div>
  );
}
