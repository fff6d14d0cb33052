/**
 * Query errors as ClickHouse writes them, `Code: N. DB::Exception: <message> (NAME)`, so that
 * ClickHouse clients (which parse exactly that shape) raise their own error types. Inlet's
 * messages end in the ClickHouse name of their failure; DuckDB's are named by their kind.
 */
const CODES: Record<string, number> = {
  UNKNOWN_FUNCTION: 46,
  UNKNOWN_IDENTIFIER: 47,
  ILLEGAL_TYPE_OF_ARGUMENT: 43,
  NOT_IMPLEMENTED: 48,
  TYPE_MISMATCH: 53,
  UNKNOWN_TABLE: 60,
  SYNTAX_ERROR: 62,
  ILLEGAL_DIVISION: 153,
  ARGUMENT_OUT_OF_BOUND: 69,
  UNKNOWN_FORMAT: 73,
  BAD_ARGUMENTS: 36,
  CANNOT_PARSE_TEXT: 6,
  UNKNOWN_SETTING: 115,
  TOO_MANY_ROWS: 158,
  TIMEOUT_EXCEEDED: 159,
  READONLY: 164,
  TOO_MANY_SIMULTANEOUS_QUERIES: 202,
  MEMORY_LIMIT_EXCEEDED: 241,
  QUERY_WAS_CANCELLED: 394,
  TOO_MANY_ROWS_OR_BYTES: 396,
  UNKNOWN_QUERY_PARAMETER: 456,
  ACCESS_DENIED: 497,
  AUTHENTICATION_FAILED: 516,
  // Hydrolix's own circuit breakers have no ClickHouse code; its query heads answer them as bad arguments.
  TIMERANGE_REQUIRED: 36,
  TIMERANGE_EXCEEDED: 36,
  QUERY_PROCESS_DOWN: 1002,
  QUERY_PROCESS_RESTARTED: 1002,
  UNKNOWN_EXCEPTION: 1002,
};

/** DuckDB's error kinds (the words before "Error:") as ClickHouse's names. */
const DUCKDB_KINDS: [RegExp, string][] = [
  [/^Parser Error/, 'SYNTAX_ERROR'],
  [/^Catalog Error: Scalar Function|^Catalog Error: Aggregate Function|^Catalog Error: Table Function|^Catalog Error: Macro Function/, 'UNKNOWN_FUNCTION'],
  [/^Catalog Error: Table/, 'UNKNOWN_TABLE'],
  [/^Binder Error: .*(?:not found|does not have a column|Referenced column)/, 'UNKNOWN_IDENTIFIER'],
  [/^Binder Error: No function matches/, 'ILLEGAL_TYPE_OF_ARGUMENT'],
  [/^Conversion Error/, 'CANNOT_PARSE_TEXT'],
  [/^Out of Range Error/, 'ARGUMENT_OUT_OF_BOUND'],
  [/^Not implemented Error/, 'NOT_IMPLEMENTED'],
  [/^(?:Binder|Invalid Input|Catalog) Error/, 'BAD_ARGUMENTS'],
];

export interface ClickHouseException {
  readonly code: number;
  /** `Code: N. DB::Exception: <message> (NAME)`. */
  readonly text: string;
}

const NAMED = /\(([A-Z][A-Z0-9_]*[A-Z][A-Z0-9_]*)\)$/;

/** One error message in ClickHouse's shape, with its code for `X-ClickHouse-Exception-Code`. */
export function clickhouseException(message: string): ClickHouseException {
  const already = /^Code: (\d+)\. DB::Exception: /.exec(message);
  if (already) return { code: Number(already[1]), text: message };
  const bare = message.replace(/^DB::Exception: /, '');
  const named = NAMED.exec(bare)?.[1];
  if (named) return { code: CODES[named] ?? CODES.UNKNOWN_EXCEPTION!, text: `Code: ${CODES[named] ?? CODES.UNKNOWN_EXCEPTION}. DB::Exception: ${bare}` };
  const name = DUCKDB_KINDS.find(([re]) => re.test(bare))?.[1] ?? 'UNKNOWN_EXCEPTION';
  return { code: CODES[name]!, text: `Code: ${CODES[name]}. DB::Exception: ${bare} (${name})` };
}
