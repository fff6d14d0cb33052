/** ClickHouse's database of the tables that describe the others: `system.tables`, ... (system-tables.ts). */
export const SYSTEM_DATABASE = 'system';
/** Its name in a sandbox, where DuckDB's own catalog named system would make `system.tables` ambiguous. */
export const SYSTEM_SCHEMA = 'inlet_system';
/** The system tables Inlet answers. */
export const SYSTEM_TABLE_NAMES: readonly string[] = ['databases', 'tables', 'columns'];
