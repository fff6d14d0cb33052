import { QueryError } from '../errors.js';

/** Hydrolix's query options that Inlet enforces; 0 or absent means no limit, as upstream. */
export interface QuerySettings {
  /** Rows in the partitions the query would read, checked after pruning and before running. */
  readonly maxRows: number;
  readonly maxResultRows: number;
  /** Bytes of the formatted answer. */
  readonly maxResultBytes: number;
  /** Refuse a query that does not bound the primary timestamp of every table it reads. */
  readonly timerangeRequired: boolean;
  /** Widest time range a query may ask for, in seconds (an open upper end counts up to now). */
  readonly maxTimerangeSec: number;
  /** Seconds before the query is interrupted; fractions allowed. */
  readonly maxExecutionTime: number;
  /** JSON formats write 64-bit and wider integers as strings (ClickHouse's output_format_json_quote_64bit_integers). */
  readonly quote64BitIntegers: boolean;
}

export const DEFAULT_SETTINGS: QuerySettings = {
  maxRows: 0,
  maxResultRows: 0,
  maxResultBytes: 0,
  timerangeRequired: false,
  maxTimerangeSec: 0,
  maxExecutionTime: 0,
  quote64BitIntegers: true,
};

type Parser = (name: string, value: string) => number | boolean;

const wholeNumber: Parser = (name, value) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new QueryError(`Setting ${name}=${value} is not valid: use a whole number >= 0 (0 is no limit) (BAD_ARGUMENTS)`);
  return n;
};
const seconds: Parser = (name, value) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new QueryError(`Setting ${name}=${value} is not valid: use a number of seconds >= 0 (0 is no limit) (BAD_ARGUMENTS)`);
  return n;
};
const bool: Parser = (name, value) => {
  const v = value.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new QueryError(`Setting ${name}=${value} is not valid: use true or false (BAD_ARGUMENTS)`);
};

const ENFORCED: Record<string, { key: keyof QuerySettings; parse: Parser }> = {
  hdx_query_max_rows: { key: 'maxRows', parse: wholeNumber },
  hdx_query_max_result_rows: { key: 'maxResultRows', parse: wholeNumber },
  hdx_query_max_result_bytes: { key: 'maxResultBytes', parse: wholeNumber },
  hdx_query_timerange_required: { key: 'timerangeRequired', parse: bool },
  hdx_query_max_timerange_sec: { key: 'maxTimerangeSec', parse: wholeNumber },
  hdx_query_max_execution_time: { key: 'maxExecutionTime', parse: seconds },
  // ClickHouse's own names for the same limits, as ClickHouse clients send them.
  max_execution_time: { key: 'maxExecutionTime', parse: seconds },
  max_result_rows: { key: 'maxResultRows', parse: wholeNumber },
  max_result_bytes: { key: 'maxResultBytes', parse: wholeNumber },
  max_rows_to_read: { key: 'maxRows', parse: wholeNumber },
  output_format_json_quote_64bit_integers: { key: 'quote64BitIntegers', parse: bool },
};
/** Labels with no effect on the answer: accepted so that clients setting them keep working. */
const INFORMATIONAL = new Set([
  'hdx_query_comment',
  'hdx_query_admin_comment',
  // ClickHouse settings about the HTTP exchange itself: Inlet always answers as they ask by
  // default (whole answer, no progress headers, no compression), so a client sending them works.
  'readonly',
  'wait_end_of_query',
  'send_progress_in_http_headers',
  'http_headers_progress_interval_ms',
  'enable_http_compression',
  'log_comment',
]);

/** `k=v,k2=v2` as the `X-HDX-query-settings` header carries it. */
export function parseSettingsHeader(header: string | undefined): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const pair of (header ?? '').split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new QueryError(`X-HDX-query-settings: "${pair}" is not name=value: send k=v,k2=v2 (BAD_ARGUMENTS)`);
    settings[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return settings;
}

/**
 * Merges the sources lowest precedence first, as Hydrolix does: header < query string <
 * SETTINGS clause. An unknown setting is refused by name, never ignored.
 */
export function resolveSettings(...sources: readonly Readonly<Record<string, string>>[]): QuerySettings {
  const settings: Record<string, number | boolean> = { ...DEFAULT_SETTINGS };
  for (const source of sources) {
    for (const [rawName, value] of Object.entries(source)) {
      const name = rawName.toLowerCase();
      if (INFORMATIONAL.has(name)) continue;
      const known = ENFORCED[name];
      if (!known) {
        throw new QueryError(`Unknown setting ${rawName}: Inlet supports ${[...Object.keys(ENFORCED), ...INFORMATIONAL].join(', ')} (UNKNOWN_SETTING)`);
      }
      settings[known.key] = known.parse(name, value);
    }
  }
  return settings as unknown as QuerySettings;
}
