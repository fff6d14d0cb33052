import { ValidationError } from '../errors.js';

/**
 * How many rejected rows a job tolerates; absent or null is no bound. Only the bounds a job was
 * given are in its settings: the reference's echo of a job stays as it is.
 */
export interface RejectBudget {
  /** Rejected rows of the whole job. */
  readonly max_rejected_rows?: number | null;
  /** Rejected rows over rows read, of the whole job, from 0 to 1. */
  readonly max_rejected_ratio?: number | null;
  /** Rejected rows of any one file. */
  readonly max_rejected_rows_per_file?: number | null;
}

export const REJECT_BUDGET_KEYS: readonly (keyof RejectBudget)[] = ['max_rejected_rows', 'max_rejected_ratio', 'max_rejected_rows_per_file'];

export function parseRejectBudget(raw: Record<string, unknown>): RejectBudget {
  const count = (key: 'max_rejected_rows' | 'max_rejected_rows_per_file'): number | null => {
    const value = raw[key] ?? null;
    if (value !== null && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)) {
      throw new ValidationError(`settings.${key} is ${JSON.stringify(value)}: use a whole number >= 0, or null (the default) for no bound`);
    }
    return value;
  };
  const ratio = raw.max_rejected_ratio ?? null;
  if (ratio !== null && (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio < 0 || ratio > 1)) {
    throw new ValidationError(`settings.max_rejected_ratio is ${JSON.stringify(ratio)}: use a fraction from 0 to 1 (0.01 is 1 %), or null (the default) for no bound`);
  }
  const budget = { max_rejected_rows: count('max_rejected_rows'), max_rejected_ratio: ratio, max_rejected_rows_per_file: count('max_rejected_rows_per_file') };
  return Object.fromEntries(Object.entries(budget).filter(([, value]) => value !== null));
}

export const hasRejectBudget = (budget: RejectBudget): boolean => REJECT_BUDGET_KEYS.some((key) => typeof budget[key] === 'number');

/** One file's rows, as a task about to commit counted them. */
export interface FileRows {
  readonly url: string;
  readonly rows_read: number;
  readonly rows_rejected: number;
}

const SUFFIX = 'nothing of its task was committed; fix the data or the transform (the file reports name each rejected row), or raise the budget, then retry the job';

/**
 * Why a task's files break the job's budget, naming the file, the count and the budget; undefined
 * when they do not. `committed` is the job's rows of tasks that committed before this one:
 * the job's bounds hold for what is committed, so they are checked as each task commits.
 */
export function overRejectBudget(budget: RejectBudget, files: readonly FileRows[], committed: { read: number; rejected: number }): { url: string; message: string } | undefined {
  const perFile = budget.max_rejected_rows_per_file;
  if (typeof perFile === 'number') {
    const over = files.find((f) => f.rows_rejected > perFile);
    if (over) return { url: over.url, message: `${over.url}: ${over.rows_rejected} of its ${over.rows_read} rows were rejected, over settings.max_rejected_rows_per_file (${perFile}): ${SUFFIX}` };
  }
  if (files.length === 0) return undefined;
  const worst = files.reduce((a, b) => (b.rows_rejected > a.rows_rejected ? b : a));
  const rejected = committed.rejected + files.reduce((sum, f) => sum + f.rows_rejected, 0);
  const read = committed.read + files.reduce((sum, f) => sum + f.rows_read, 0);
  const max = budget.max_rejected_rows;
  if (typeof max === 'number' && rejected > max) {
    return {
      url: worst.url,
      message: `${worst.url}: ${worst.rows_rejected} of its ${worst.rows_read} rows were rejected, which brings the job's rejected rows to ${rejected}, over settings.max_rejected_rows (${max}): ${SUFFIX}`,
    };
  }
  const ratio = budget.max_rejected_ratio;
  if (typeof ratio === 'number' && read > 0 && rejected / read > ratio) {
    return {
      url: worst.url,
      message: `${worst.url}: ${worst.rows_rejected} of its ${worst.rows_read} rows were rejected, which makes the job's rejected rows ${rejected} of ${read} read (${percent(rejected / read)}), over settings.max_rejected_ratio (${ratio}): ${SUFFIX}`,
    };
  }
  return undefined;
}

const percent = (fraction: number) => `${(fraction * 100).toPrecision(3).replace(/\.?0+$/, '')} %`;
