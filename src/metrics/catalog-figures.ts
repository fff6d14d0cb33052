import type { Catalog } from '../catalog/db.js';
import { JOB_STATUSES, TASK_STATES, type JobStatus, type TaskState, type TaskType } from '../catalog/schema.js';

/** Figures read from the catalog: true for every worker process that shares it, not just this one. */
export interface CatalogFigures {
  jobs: Record<JobStatus, number>;
  tasks: Record<TaskType, Record<TaskState, number>>;
  rows: { read: number; written: number; rejected: number };
  bytesRead: number;
  filesFailed: number;
}

const zeroes = <K extends string>(keys: readonly K[]): Record<K, number> => Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

/** Three aggregate queries over all orgs; the caller caches the answer so scrapes cannot pile onto the catalog. */
export async function readCatalogFigures(c: Catalog): Promise<CatalogFigures> {
  const [jobs, tasks, files] = await Promise.all([
    c.db
      .selectFrom('jobs')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute(),
    c.db
      .selectFrom('tasks')
      .select(['type', 'state', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy(['type', 'state'])
      .execute(),
    c.db
      .selectFrom('task_files')
      .select((eb) => [
        eb.fn.sum<number>('rows_read').as('read'),
        eb.fn.sum<number>('rows_written').as('written'),
        eb.fn.sum<number>('rows_rejected').as('rejected'),
        eb.fn.sum<number>('bytes').as('bytes'),
        eb.fn.count<number>('error').as('failed'),
      ])
      .executeTakeFirstOrThrow(),
  ]);
  const figures: CatalogFigures = {
    jobs: zeroes(JOB_STATUSES),
    tasks: { LIST: zeroes(TASK_STATES), INDEX: zeroes(TASK_STATES) },
    rows: { read: Number(files.read ?? 0), written: Number(files.written ?? 0), rejected: Number(files.rejected ?? 0) },
    bytesRead: Number(files.bytes ?? 0),
    filesFailed: Number(files.failed ?? 0),
  };
  for (const row of jobs) figures.jobs[row.status] = Number(row.n);
  for (const row of tasks) figures.tasks[row.type][row.state] = Number(row.n);
  return figures;
}
