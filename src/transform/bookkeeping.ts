/**
 * Names of the bookkeeping columns the conversion adds to a user's columns. User columns never
 * start with `__inlet`, so these cannot clash with them; every module reads them from here.
 */

/** The task-wide number of the file a record came from. */
export const FILE_COLUMN = '__inlet_file';
/** Why the record does not load; NULL when it does. */
export const REASON_COLUMN = '__inlet_reason';
/** A blank line: neither loaded nor rejected. */
export const BLANK_COLUMN = '__inlet_blank';
/** A record's JSON text as the reader gave it (JSON shapes only). */
export const LINE_COLUMN = '__inlet_line';
/** A rejected record's raw text, made in the conversion's own scan; NULL for a row that loads. */
export const RAW_COLUMN = '__inlet_raw';
/** A row id carried through sql_transform (with `SELECT *`), so the rows it drops are counted per file. */
export const ROW_COLUMN = '__inlet_row';

/** A row's time window, by which the partitioned writer splits rows into files (see ingest/partition.ts). */
export const WINDOW_COLUMN = '__inlet_window';

/** The converted rows that load (before any sql_transform). */
export const ACCEPTED_FILTER = `${REASON_COLUMN} IS NULL AND NOT ${BLANK_COLUMN}`;

/** A bundle's first field: the file number leading each line (see ingest/bundle.ts). */
export const BUNDLE_FILE = '__inlet_bundle_file';
/** The most a bundle's file number and its separator add to a line. */
export const BUNDLE_PREFIX_BYTES = 16;
