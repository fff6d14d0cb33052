/**
 * The functions and operators a sql_transform may call. An allow-list, not a deny-list: DuckDB
 * keeps adding functions that read files, settings, variables or run SQL of their own
 * (`read_text`, `getvariable`, `current_setting`, `query`, `json_execute_serialized_sql`, ...),
 * and a new one must stay out until someone decides it is safe. Left out on purpose: anything
 * that reads state outside the row (settings, variables, sequences, the catalog, the current
 * query), sleeps or logs, and the functions that build a value of any size from a count
 * (`repeat`, `lpad`, `range`, `generate_series`, `list_resize`, and `printf` and `format` with a width), which would let one row exhaust
 * the worker's memory; and the functions that DuckDB cannot interrupt while they work for as
 * long as their arguments say (UNINTERRUPTIBLE_FUNCTIONS), which would hold a worker slot forever.
 */
// One group of functions a line reads as the allow-list it is: the formatter leaves it so.
// prettier-ignore
const GROUPS = {
  operators: [
    '+', '-', '*', '/', '//', '%', '**', '^', '&', '|', '<<', '>>', '~', '!__postfix', '||', '@',
    '~~', '!~~', '~~*', '!~~*', '~~~', '!~~~', '^@', '->>', '@>', '<@', '&&', '<->', '<=>',
    'like_escape', 'not_like_escape', 'ilike_escape', 'not_ilike_escape',
  ],
  conditional: ['nullif', 'greatest', 'least', 'error', 'typeof', 'constant_or_null', 'hash', 'alias'],
  numeric: [
    'abs', 'acos', 'acosh', 'add', 'asin', 'asinh', 'atan', 'atan2', 'atanh', 'bit_count', 'cbrt', 'ceil', 'ceiling', 'cos', 'cosh',
    'cot', 'degrees', 'divide', 'even', 'exp', 'factorial', 'fdiv', 'floor', 'fmod', 'gamma', 'gcd', 'greatest_common_divisor',
    'isfinite', 'isinf', 'isnan', 'lcm', 'least_common_multiple', 'lgamma', 'ln', 'log', 'log10', 'log2', 'mod', 'multiply',
    'nextafter', 'pi', 'pow', 'power', 'radians', 'random', 'round', 'round_even', 'roundbankers', 'sign', 'signbit', 'sin', 'sinh',
    'sqrt', 'subtract', 'tan', 'tanh', 'trunc', 'xor', 'to_base', 'bin', 'hex', 'unbin', 'unhex', 'to_hex', 'to_binary', 'from_hex',
    'from_binary', 'format_bytes', 'parse_formatted_bytes',
  ],
  text: [
    'ascii', 'bit_length', 'char_length', 'character_length', 'chr', 'concat', 'concat_ws', 'contains',
    'ends_with', 'hamming', 'instr', 'jaccard', 'lcase',
    'left', 'left_grapheme', 'len', 'length', 'length_grapheme', 'lower', 'ltrim', 'md5', 'md5_number',
    'md5_number_lower', 'md5_number_upper', 'mismatches', 'nfc_normalize', 'octet_length', 'ord', 'position', 'prefix', 'replace',
    'reverse', 'right', 'right_grapheme', 'rtrim', 'sha1', 'sha256', 'split', 'split_part', 'starts_with', 'str_split',
    'str_split_regex', 'string_split', 'string_split_regex', 'string_to_array', 'strip_accents', 'strlen', 'strpos', 'substr',
    'substring', 'substring_grapheme', 'suffix', 'translate', 'trim', 'ucase', 'unicode', 'upper', 'url_decode', 'url_encode',
    'base64', 'to_base64', 'from_base64', 'encode', 'decode', 'regexp_escape', 'regexp_extract', 'regexp_extract_all',
    'regexp_full_match', 'regexp_matches', 'regexp_replace', 'regexp_split_to_array', 'parse_dirname', 'parse_dirpath',
    'parse_filename', 'parse_path', 'uuid', 'uuidv4', 'uuidv7', 'gen_random_uuid', 'uuid_extract_timestamp', 'uuid_extract_version',
  ],
  time: [
    'age', 'century', 'current_date', 'current_localtime', 'current_localtimestamp', 'date_diff', 'date_part', 'date_sub',
    'date_trunc', 'datediff', 'datepart', 'datesub', 'datetrunc', 'date_add', 'day', 'dayname', 'dayofmonth', 'dayofweek',
    'dayofyear', 'days_in_month', 'decade', 'epoch', 'epoch_ms', 'epoch_ns', 'epoch_us', 'era', 'get_current_time',
    'get_current_timestamp', 'hour', 'isodow', 'isoyear', 'julian', 'last_day', 'make_date', 'make_time', 'make_timestamp',
    'make_timestamp_ms', 'make_timestamp_ns', 'make_timestamptz', 'microsecond', 'millennium', 'millisecond', 'minute', 'month',
    'monthname', 'nanosecond', 'normalized_interval', 'now', 'quarter', 'second', 'strftime', 'strptime', 'time_bucket', 'timezone',
    'timezone_hour', 'timezone_minute', 'to_centuries', 'to_days', 'to_decades', 'to_hours', 'to_microseconds', 'to_millennia',
    'to_milliseconds', 'to_minutes', 'to_months', 'to_quarters', 'to_seconds', 'to_timestamp', 'to_weeks', 'to_years', 'today',
    'transaction_timestamp', 'try_strptime', 'week', 'weekday', 'weekofyear', 'year', 'yearweek', 'ago',
  ],
  lists: [
    'array_append', 'array_cat', 'array_concat', 'array_contains', 'array_distinct', 'array_extract', 'array_filter', 'array_has',
    'array_has_all', 'array_has_any', 'array_indexof', 'array_intersect', 'array_length', 'array_pop_back', 'array_pop_front',
    'array_position', 'array_prepend', 'array_push_back', 'array_push_front', 'array_reduce', 'array_reverse', 'array_reverse_sort',
    'array_select', 'array_slice', 'array_sort', 'array_to_string', 'array_transform', 'array_apply', 'array_unique', 'array_value',
    'array_where', 'array_zip', 'cardinality', 'element_at', 'filter', 'flatten', 'list_any_value', 'list_append', 'list_apply',
    'list_avg', 'list_bool_and', 'list_bool_or', 'list_cat', 'list_concat', 'list_contains', 'list_count', 'list_distinct',
    'list_element', 'list_extract', 'list_filter', 'list_first', 'list_has', 'list_has_all', 'list_has_any', 'list_indexof',
    'list_intersect', 'list_last', 'list_max', 'list_min', 'list_pack', 'list_position', 'list_prepend', 'list_reduce',
    'list_reverse', 'list_reverse_sort', 'list_select', 'list_slice', 'list_sort', 'list_string_agg', 'list_sum', 'list_transform',
    'list_unique', 'list_value', 'list_where', 'list_zip', 'reduce', 'apply',
  ],
  structsAndMaps: [
    'map', 'map_concat', 'map_contains', 'map_contains_entry', 'map_contains_value', 'map_entries', 'map_extract',
    'map_extract_value', 'map_from_entries', 'map_keys', 'map_values', 'row', 'struct_concat', 'struct_contains', 'struct_extract',
    'struct_extract_at', 'struct_has', 'struct_indexof', 'struct_insert', 'struct_keys', 'struct_pack', 'struct_position',
    'struct_update', 'struct_values', 'union_extract', 'union_tag', 'union_value',
  ],
  json: [
    'array_to_json', 'from_json', 'from_json_strict', 'json', 'json_array', 'json_array_length', 'json_contains', 'json_exists',
    'json_extract', 'json_extract_path', 'json_extract_path_text', 'json_extract_string', 'json_keys', 'json_merge_patch',
    'json_object', 'json_pretty', 'json_quote', 'json_structure', 'json_transform', 'json_transform_strict', 'json_type',
    'json_valid', 'json_value', 'row_to_json', 'to_json',
  ],
  aggregatesAndWindows: [
    'any_value', 'approx_count_distinct', 'arbitrary', 'arg_max', 'arg_min', 'argmax', 'argmin', 'avg', 'bit_and', 'bit_or',
    'bit_xor', 'bool_and', 'bool_or', 'count', 'count_if', 'count_star', 'countif', 'first', 'first_value', 'last', 'last_value',
    'lag', 'lead', 'max', 'max_by', 'mean', 'median', 'min', 'min_by', 'mode', 'nth_value', 'ntile', 'percent_rank', 'rank',
    'dense_rank', 'rank_dense', 'cume_dist', 'row_number', 'stddev', 'stddev_pop', 'stddev_samp', 'sum', 'var_pop', 'var_samp',
    'variance', 'quantile', 'quantile_cont', 'quantile_disc', 'fill',
  ],
} as const;

/**
 * Functions DuckDB does not interrupt while they run, whose work grows without bound with their
 * arguments: an edit distance is quadratic in its strings' lengths, equi_width_bins loops on its
 * bin count. A cancel or a timeout would not stop one, so neither a sql_transform nor a query
 * may call them.
 */
export const UNINTERRUPTIBLE_FUNCTIONS: ReadonlySet<string> = new Set(['equi_width_bins', 'levenshtein', 'damerau_levenshtein', 'editdist3', 'jaro_similarity', 'jaro_winkler_similarity']);

const ALLOWED = new Set<string>(Object.values(GROUPS).flat());

/** True when a sql_transform may call the function (names are case-insensitive in DuckDB). */
export function isAllowedFunction(name: string): boolean {
  const lower = name.toLowerCase();
  return (ALLOWED.has(name) || ALLOWED.has(lower)) && !UNINTERRUPTIBLE_FUNCTIONS.has(lower);
}
