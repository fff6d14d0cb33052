/** A validated transform: what the compiler needs, with defaults applied and legacy forms normalised. */
export interface Transform {
  readonly type: 'csv' | 'json';
  readonly compression: Compression;
  readonly csv: CsvOptions;
  readonly nullValues: readonly string[];
  readonly columns: readonly OutputColumn[];
  /** The name of the one primary timestamp column. */
  readonly primary: string;
}

export const COMPRESSIONS = ['none', 'gzip'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export interface CsvOptions {
  readonly delimiter: string;
  readonly quote: string;
  readonly escape: string;
  readonly skipHead: number;
  /** Set when skip_comments is on: lines starting with it are skipped. */
  readonly comment: string | undefined;
}

export const SCALAR_TYPES = ['string', 'boolean', 'int8', 'int32', 'int64', 'uint8', 'uint32', 'uint64', 'double', 'datetime', 'datetime64', 'epoch'] as const;
export type ScalarType = (typeof SCALAR_TYPES)[number];
export const EPOCH_UNITS = ['ns', 'us', 'ms', 'cs', 's'] as const;
export type EpochUnit = (typeof EPOCH_UNITS)[number];

export interface OutputColumn {
  readonly name: string;
  readonly type: ScalarType;
  readonly primary: boolean;
  /** Go layout for datetime/datetime64, unit for epoch. */
  readonly format: string | undefined;
  /** Stored precision of timestamps: whole seconds (Hydrolix's default) or milliseconds. */
  readonly resolution: 's' | 'ms';
  /** Where the value comes from: a 0-based CSV field, or a JSON key. */
  readonly source: { readonly index: number } | { readonly field: string };
  /** Used, as if it were the input, when the input is missing, empty or a null value. */
  readonly default: string | undefined;
  /** Parsed and checked but not stored. */
  readonly ignore: boolean;
}

/** The timestamp types that can be primary. */
export const TIMESTAMP_TYPES: readonly ScalarType[] = ['datetime', 'datetime64', 'epoch'];
