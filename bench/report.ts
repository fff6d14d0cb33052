import { cpus } from 'node:os';

/** One line of the benchmark table: a measurement of Inlet against its same-run baseline. */
export interface BenchRow {
  readonly scenario: string;
  /** What ran: `baseline` (the honest limit, e.g. DuckDB alone) or `inlet`. */
  readonly variant: string;
  readonly rows?: number;
  readonly inputBytes?: number;
  readonly seconds: number;
  readonly peakRssBytes?: number;
  /** Free-form figures the scenario wants shown (partitions read, p99 latency, ...). */
  readonly notes?: string;
  /** inlet / baseline throughput (or latency ratio, as the note says); set on the inlet row. */
  readonly ratio?: number;
  /** The target this row is judged against, in words, and whether it was met. */
  readonly target?: string;
  readonly met?: boolean;
  /** Where the time went, on the inlet row of a scenario that profiles both sides' stages. */
  readonly stages?: StageTimes;
}

/** Milliseconds per stage: Inlet's INDEX tasks (summed over tasks) beside DuckDB alone's statements. */
export interface StageTimes {
  readonly inlet: { readonly fetchMs: number; readonly convertMs: number; readonly writeMs: number };
  readonly duckdb: { readonly readConvertMs: number; readonly sortWriteMs: number };
}

export interface BenchOptions {
  readonly quick: boolean;
  /** Scratch directory for generated data; removed afterwards. */
  readonly workDir: string;
  /** The matrix's shapes to run, by slug (`--shape`); all when empty. */
  readonly shapes?: readonly string[];
}

const fmt = (n: number | undefined, digits = 2) => (n === undefined ? '' : n.toFixed(digits));
const mb = (bytes: number | undefined) => (bytes === undefined ? '' : (bytes / 1e6).toFixed(1));

export function markdownTable(rows: readonly BenchRow[]): string {
  const header = '| scenario | variant | rows | input MB | seconds | rows/s | MB/s | peak RSS MB | ratio | target | met | notes |';
  const rule = '|' + ' --- |'.repeat(12);
  const lines = rows.map((r) =>
    [
      r.scenario,
      r.variant,
      r.rows ?? '',
      mb(r.inputBytes),
      fmt(r.seconds, 3),
      r.rows ? Math.round(r.rows / r.seconds).toLocaleString('en-US') : '',
      r.inputBytes ? fmt(r.inputBytes / 1e6 / r.seconds, 1) : '',
      mb(r.peakRssBytes),
      fmt(r.ratio),
      r.target ?? '',
      r.met === undefined ? '' : r.met ? 'yes' : 'NO',
      r.notes ?? '',
    ].join(' | '),
  );
  return [header, rule, ...lines.map((l) => `| ${l} |`)].join('\n');
}

/** The per-stage table of the rows that carry stage times; empty when none do. */
export function stageTable(rows: readonly BenchRow[]): string {
  const staged = rows.filter((r) => r.stages);
  if (staged.length === 0) return '';
  const ms = (n: number) => Math.round(n).toLocaleString('en-US');
  const ratio = (inlet: number, duckdb: number) => (duckdb > 0 ? (inlet / duckdb).toFixed(2) : '');
  const header = '| scenario | Inlet fetch ms | Inlet convert ms | DuckDB read+convert ms | convert / read+convert | Inlet write ms | DuckDB sort+write ms | write / sort+write |';
  const rule = '|' + ' --- |'.repeat(8);
  const lines = staged.map(({ scenario, stages: s }) =>
    [
      scenario,
      ms(s!.inlet.fetchMs),
      ms(s!.inlet.convertMs),
      ms(s!.duckdb.readConvertMs),
      ratio(s!.inlet.convertMs, s!.duckdb.readConvertMs),
      ms(s!.inlet.writeMs),
      ms(s!.duckdb.sortWriteMs),
      ratio(s!.inlet.writeMs, s!.duckdb.sortWriteMs),
    ].join(' | '),
  );
  return [header, rule, ...lines.map((l) => `| ${l} |`)].join('\n');
}

export const machine = () => `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}`;
