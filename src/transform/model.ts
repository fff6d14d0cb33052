/**
 * Bounds on a transform, checked when it is saved. Conversion costs DuckDB a buffer per column
 * in each step, whatever the rows: `columns` keeps a transform at the limit converting within
 * the smallest memory a worker slot gets (256 MB).
 */
export const TRANSFORM_LIMITS = {
  columns: 500,
  columnNameLength: 255,
  /** Names (from_input_fields) or JSON pointers one column tries in turn. */
  sourcesPerColumn: 32,
  /** Characters of one JSON pointer or field name. */
  pointerLength: 1024,
  nullValues: 100,
  /** from_input_index: the 0-based field position. */
  inputIndex: 9999,
  /** Lines of format_details.skip_head. */
  skipHead: 1_000_000,
  /** Levels of format_details.flattening.depth. */
  flatteningDepth: 100,
  /** limits.past and limits.future, in seconds (100 years of 365 days). */
  durationSeconds: 100 * 365 * 86400,
} as const;

/** A validated transform: what the compiler needs, with defaults applied and legacy forms normalised. */
export interface Transform {
  readonly type: 'csv' | 'json';
  readonly compression: Compression;
  readonly csv: CsvOptions;
  readonly json: JsonOptions;
  readonly nullValues: readonly string[];
  readonly columns: readonly OutputColumn[];
  /** The name of the one primary timestamp column. */
  readonly primary: string;
  /** DuckDB SQL over `{STREAM}` (the converted rows), applied before rows are written. */
  readonly sqlTransform: string | undefined;
}

export const COMPRESSIONS = ['none', 'gzip', 'zip', 'deflate', 'zlib', 'bzip2', 'zstd', 'xz'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export interface CsvOptions {
  readonly delimiter: string;
  readonly quote: string;
  readonly escape: string;
  readonly skipHead: number;
  /** Set when skip_comments is on: lines starting with it are skipped. */
  readonly comment: string | undefined;
}

export interface JsonOptions {
  /** Set when format_details.flattening is active: how nested names are spelled in column names. */
  readonly flattening: Flattening | undefined;
}

export interface Flattening {
  /** Levels of nesting that are flattened; deeper values stay JSON text. Infinity when not given. */
  readonly depth: number;
  readonly map: { readonly left: string; readonly right: string };
  readonly slice: { readonly left: string; readonly right: string };
}

export const SCALAR_TYPES = ['string', 'boolean', 'int8', 'int32', 'int64', 'uint8', 'uint32', 'uint64', 'double', 'datetime', 'datetime64', 'epoch'] as const;
export type ScalarType = (typeof SCALAR_TYPES)[number];
export const COMPOSITE_TYPES = ['array', 'map'] as const;
export type ColumnType = ScalarType | (typeof COMPOSITE_TYPES)[number];
export const EPOCH_UNITS = ['ns', 'us', 'ms', 'cs', 's'] as const;
export type EpochUnit = (typeof EPOCH_UNITS)[number];

/** How one value (a column, or an element of an array or map) is converted. */
export interface ValueType {
  readonly type: ColumnType;
  /** Go layout for datetime/datetime64, unit for epoch. */
  readonly format: string | undefined;
  /** Stored precision of timestamps: whole seconds (Hydrolix's default) or milliseconds. */
  readonly resolution: 's' | 'ms';
  /** Array: one element type. Map: key type, then value type. */
  readonly elements: readonly ValueType[];
  readonly limits: Limits | undefined;
}

/** Bounds a value must respect; a value outside them rejects its row (`action: "reject"`) or is stored as NULL. */
export interface Limits {
  readonly min: number | undefined;
  readonly max: number | undefined;
  /** Oldest accepted timestamp, as seconds before the time of the load. */
  readonly pastSeconds: number | undefined;
  /** Newest accepted timestamp, as seconds after the time of the load. */
  readonly futureSeconds: number | undefined;
  readonly action: 'reject' | 'null';
}

export type ColumnSource =
  | { readonly kind: 'index'; readonly index: number }
  /** JSON: the first of these fields that is present and not null. */
  | { readonly kind: 'fields'; readonly fields: readonly string[] }
  /** JSON: the first of these RFC 6901 pointers that resolves to a non-null value. */
  | { readonly kind: 'pointers'; readonly pointers: readonly string[] }
  /** JSON: every top-level field no other column reads, as a map or a JSON object. */
  | { readonly kind: 'catch_all' };

export interface OutputColumn extends ValueType {
  readonly name: string;
  readonly primary: boolean;
  readonly source: ColumnSource;
  /** Used, as if it were the input, when the input is missing, empty or a null value. */
  readonly default: string | undefined;
  /** Parsed and checked but not stored. */
  readonly ignore: boolean;
  /** Stored (Hydrolix's index flag); every Parquet column carries statistics either way. */
  readonly index: boolean;
}

/** The timestamp types that can be primary. */
export const TIMESTAMP_TYPES: readonly ColumnType[] = ['datetime', 'datetime64', 'epoch'];
