// Runs SQL in a fresh DuckDB, alone in this process: the honest limit Inlet is compared against.
// Prints {"seconds": …, "peakRssBytes": …} as its last line.
import { DuckDBInstance } from '@duckdb/node-api';
import { peakRss } from './measure.js';

const sql = process.env.BENCH_SQL;
if (!sql) throw new Error('BENCH_SQL is not set');
const start = performance.now();
const instance = await DuckDBInstance.create(':memory:', { threads: process.env.BENCH_THREADS ?? '2' });
const connection = await instance.connect();
for (const statement of sql.split(';\n').filter((s) => s.trim())) await connection.run(statement);
const seconds = (performance.now() - start) / 1000;
connection.closeSync();
instance.closeSync();
console.log(JSON.stringify({ seconds, peakRssBytes: peakRss(process.pid) }));
