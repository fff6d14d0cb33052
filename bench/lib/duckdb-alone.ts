// Runs SQL in a fresh DuckDB, alone in this process: the honest limit Inlet is compared against.
// Prints {"seconds": …, "cpuSeconds": …, "peakRssBytes": …, "statementSeconds": […], "lastValue": …} as its last line.
import { DuckDBInstance } from '@duckdb/node-api';
import { peakRss } from './measure.js';

const sql = process.env.BENCH_SQL;
if (!sql) throw new Error('BENCH_SQL is not set');
const start = performance.now();
const cpuStart = process.cpuUsage();
const instance = await DuckDBInstance.create(':memory:', { threads: process.env.BENCH_THREADS ?? '2' });
const connection = await instance.connect();
// Each statement's own time, so a scenario can split the baseline into stages (read+convert, sort+write).
const statementSeconds: number[] = [];
let lastValue: unknown;
for (const statement of sql.split(';\n').filter((s) => s.trim())) {
  const mark = performance.now();
  const reader = await connection.runAndReadAll(statement);
  statementSeconds.push((performance.now() - mark) / 1000);
  // A COPY answers the rows it wrote: the row count the scenario checks against Inlet's.
  lastValue = reader.getRows()[0]?.[0];
}
const seconds = (performance.now() - start) / 1000;
connection.closeSync();
instance.closeSync();
const cpu = process.cpuUsage(cpuStart);
console.log(JSON.stringify({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssBytes: peakRss(process.pid), statementSeconds, lastValue: lastValue === undefined ? null : Number(lastValue) }));
