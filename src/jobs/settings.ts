import { ValidationError } from '../errors.js';
import { rejectUnknownKeys } from '../known-keys.js';
import { MAX_NAME_LENGTH } from '../names.js';
import { parseRejectBudget, REJECT_BUDGET_KEYS, type RejectBudget } from './budget.js';
import { compileRegexFilter } from './regex-filter.js';

/** The reference's defaults, echoed in every job's settings. */
export const JOB_DEFAULTS = {
  max_active_partitions: 576,
  max_rows_per_partition: 33554432,
  max_minutes_per_partition: 15,
  input_concurrency: 1,
  input_aggregation: 1536000000,
  max_files: 0,
  dry_run: false,
  regex_filter: '',
} as const;

/** Rejected records a job keeps in the quarantine unless its settings.max_quarantined_rows says otherwise. */
export const DEFAULT_MAX_QUARANTINED_ROWS = 1_000_000;

/** Longest settings.source.settings.url: a bucket and a key of S3's longest, with room to spare. */
export const MAX_URL_LENGTH = 2048;

/** Most files one INDEX task reads, whatever input_aggregation allows: bounds one task's scratch space and retry cost. */
export const MAX_FILES_PER_TASK = 1000;

export interface JobSource {
  readonly table: string;
  readonly type: string;
  readonly subtype: string;
  readonly transform?: string;
  readonly settings: { readonly url: string; readonly credential_id?: string } & Record<string, unknown>;
}

export interface JobSettings extends RejectBudget {
  readonly max_active_partitions: number;
  readonly max_rows_per_partition: number;
  readonly max_minutes_per_partition: number;
  readonly input_concurrency: number;
  readonly input_aggregation: number;
  readonly max_files: number;
  readonly dry_run: boolean;
  readonly regex_filter: string;
  /** Inlet's: load objects the table's ledger says it already has (absent: skip them). */
  readonly force?: boolean;
  /** Inlet's: rejected records the job keeps in the quarantine (absent: DEFAULT_MAX_QUARANTINED_ROWS); past it they are counted only. */
  readonly max_quarantined_rows?: number;
  readonly source: JobSource;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function positiveInt(settings: Record<string, unknown>, key: keyof typeof JOB_DEFAULTS, min: number): number {
  const value = settings[key] ?? JOB_DEFAULTS[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new ValidationError(`settings.${key} is ${JSON.stringify(value)}: use a whole number >= ${min} (default ${String(JOB_DEFAULTS[key])})`);
  }
  return value;
}

/** The keys of a create-job body: the reference's, and the read-only ones of a job as answered, which clients send back. */
export const JOB_BODY_KEYS = ['name', 'description', 'type', 'settings', 'uuid', 'created', 'modified', 'org', 'status', 'details'];
const SOURCE_KEYS = ['table', 'type', 'subtype', 'transform', 'settings'];
/** Where to read: with the processes' own credentials, or with one of the org's stored credentials (credential_id). */
const SOURCE_SETTINGS_KEYS = ['url', 'credential_id'];

/** Validates a create-job `settings` object and fills in the defaults, as the reference's echo shows. */
export function normaliseJobSettings(raw: unknown): JobSettings {
  if (!isObject(raw)) throw new ValidationError('settings is missing: use {"source": {"table": "project.table", "settings": {"url": "s3://bucket/prefix/"}}}');
  rejectUnknownKeys(raw, [...Object.keys(JOB_DEFAULTS), ...REJECT_BUDGET_KEYS, 'force', 'max_quarantined_rows', 'source'], 'settings');
  const source = raw.source;
  if (!isObject(source)) throw new ValidationError('settings.source is missing: use {"table": "project.table", "transform": "name", "settings": {"url": "s3://bucket/prefix/"}}');
  rejectUnknownKeys(source, SOURCE_KEYS, 'settings.source');
  if (typeof source.table !== 'string' || !/^[^.]+\.[^.]+$/.test(source.table) || source.table.length > 2 * MAX_NAME_LENGTH + 1) {
    throw new ValidationError(`settings.source.table is ${JSON.stringify(source.table)?.slice(0, 200)}: use "project.table", e.g. "website.events"`);
  }
  if (source.transform !== undefined && (typeof source.transform !== 'string' || source.transform === '' || source.transform.length > MAX_NAME_LENGTH)) {
    throw new ValidationError(`settings.source.transform is ${JSON.stringify(source.transform)?.slice(0, 200)}: use a transform name, or leave it out for the table's default transform`);
  }
  if (source.type !== undefined && source.type !== 'batch') {
    throw new ValidationError(`settings.source.type is ${JSON.stringify(source.type)}: batch jobs take "batch"`);
  }
  const sourceSettings = source.settings;
  if (!isObject(sourceSettings) || typeof sourceSettings.url !== 'string') {
    throw new ValidationError('settings.source.settings.url is missing: use s3://bucket/prefix/, s3://bucket/key or file:///path');
  }
  rejectUnknownKeys(sourceSettings, SOURCE_SETTINGS_KEYS, 'settings.source.settings');
  // An S3 key is at most 1024 bytes, and a path as long is already unusual.
  if (sourceSettings.url.length > MAX_URL_LENGTH) {
    throw new ValidationError(`settings.source.settings.url is ${sourceSettings.url.length} characters long: give a URL of at most ${MAX_URL_LENGTH} (a prefix, with regex_filter to choose among its objects)`);
  }
  if (sourceSettings.credential_id !== undefined && (typeof sourceSettings.credential_id !== 'string' || !sourceSettings.url.startsWith('s3://'))) {
    throw new ValidationError(`settings.source.settings.credential_id is ${JSON.stringify(sourceSettings.credential_id)?.slice(0, 100)}: give the uuid of one of the org's credentials, for an s3:// url`);
  }
  const regex = raw.regex_filter ?? JOB_DEFAULTS.regex_filter;
  if (typeof regex !== 'string') throw new ValidationError(`settings.regex_filter is ${JSON.stringify(regex)}: use a regular expression string, e.g. "^s3://bucket/.*\\\\.gz$"`);
  compileRegexFilter(regex);
  const dryRun = raw.dry_run ?? JOB_DEFAULTS.dry_run;
  if (typeof dryRun !== 'boolean') throw new ValidationError(`settings.dry_run is ${JSON.stringify(dryRun)}: use true or false`);
  const kept = raw.max_quarantined_rows;
  if (kept !== undefined && (typeof kept !== 'number' || !Number.isSafeInteger(kept) || kept < 0)) {
    throw new ValidationError(`settings.max_quarantined_rows is ${JSON.stringify(kept)}: use a whole number >= 0 of rejected records to keep (default ${DEFAULT_MAX_QUARANTINED_ROWS}; 0 keeps none)`);
  }
  if (raw.force !== undefined && typeof raw.force !== 'boolean') throw new ValidationError(`settings.force is ${JSON.stringify(raw.force)}: use true (load objects the table already loaded) or false`);
  return {
    max_active_partitions: positiveInt(raw, 'max_active_partitions', 1),
    max_rows_per_partition: positiveInt(raw, 'max_rows_per_partition', 1),
    max_minutes_per_partition: positiveInt(raw, 'max_minutes_per_partition', 1),
    input_concurrency: positiveInt(raw, 'input_concurrency', 1),
    input_aggregation: positiveInt(raw, 'input_aggregation', 1),
    max_files: positiveInt(raw, 'max_files', 0),
    dry_run: dryRun,
    regex_filter: regex,
    ...parseRejectBudget(raw),
    // Echoed only when given: the reference's echo of a job stays as it is.
    ...(raw.force === undefined ? {} : { force: raw.force }),
    ...(kept === undefined ? {} : { max_quarantined_rows: kept }),
    source: {
      ...source,
      table: source.table,
      type: 'batch',
      subtype: typeof source.subtype === 'string' ? source.subtype : 'aws s3',
      ...(typeof source.transform === 'string' ? { transform: source.transform } : {}),
      settings: { ...sourceSettings, url: sourceSettings.url },
    },
  };
}
