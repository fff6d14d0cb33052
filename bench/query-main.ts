// tsx bench/query-main.ts [--quick]: the query benchmark alone, for measuring while working on /query
// (INLET_BENCH_KEEP=1 keeps its data directory).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runQueryBench } from './query.js';
import { machine, markdownTable } from './report.js';

const workDir = mkdtempSync(path.join(process.env.INLET_BENCH_DIR ?? tmpdir(), 'inlet-bench-query-'));
try {
  const rows = await runQueryBench({ quick: process.argv.includes('--quick'), workDir });
  console.log(`${markdownTable(rows)}\n\nmachine: ${machine()}`);
} finally {
  // INLET_BENCH_KEEP=1 leaves the ingested data for profiling the server against it.
  if (process.env.INLET_BENCH_KEEP === '1') console.log(`kept ${workDir}`);
  else rmSync(workDir, { recursive: true, force: true });
}
