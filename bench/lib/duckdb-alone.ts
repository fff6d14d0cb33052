// Runs SQL in a fresh DuckDB, alone in this process: the honest limit Inlet is compared against.
// Prints {"seconds": …, "cpuSeconds": …, "peakRssBytes": …} as its last line.
import { DuckDBInstance } from '@duckdb/node-api';
import { peakRss } from './measure.js';

const sql = process.env.BENCH_SQL;
if (!sql) throw new Error('BENCH_SQL is not set');
const start = performance.now();
const cpuStart = process.cpuUsage();
const instance = await DuckDBInstance.create(':memory:', { threads: process.env.BENCH_THREADS ?? '2' });
const connection = await instance.connect();
for (const statement of sql.split(';\n').filter((s) => s.trim())) await connection.run(statement);
const seconds = (performance.now() - start) / 1000;
connection.closeSync();
instance.closeSync();
const cpu = process.cpuUsage(cpuStart);
console.log(JSON.stringify({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssBytes: peakRss(process.pid) }));
