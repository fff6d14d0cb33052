// npm run bench -- [--quick] [--shape slug ...] [scenario ...]: measures Inlet against DuckDB alone, in one run.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runQueryBench } from './query.js';
import { machine, markdownTable, stageTable, type BenchOptions, type BenchRow } from './report.js';
import { bigFiles } from './scenarios/big-files.js';
import { listing } from './scenarios/listing.js';
import { matrix } from './scenarios/matrix.js';
import { memory } from './scenarios/memory.js';
import { polling } from './scenarios/polling.js';
import { smallFiles } from './scenarios/small-files.js';

const BENCHMARKS = 'docs/benchmarks.md';
const ANALYSIS_MARKER = '<!-- analysis: kept by npm run bench -->';

const SCENARIOS: Record<string, (options: BenchOptions) => Promise<BenchRow[]>> = {
  big: bigFiles,
  matrix,
  small: smallFiles,
  listing,
  polling,
  memory,
  query: runQueryBench,
};

const { values, positionals } = parseArgs({ allowPositionals: true, options: { quick: { type: 'boolean', default: false }, shape: { type: 'string', multiple: true, default: [] } } });
const chosen = positionals.length > 0 ? positionals : Object.keys(SCENARIOS);
for (const name of chosen) if (!SCENARIOS[name]) throw new Error(`unknown scenario "${name}": use ${Object.keys(SCENARIOS).join(', ')}`);

const workDir = mkdtempSync(path.join(process.env.INLET_BENCH_DIR ?? tmpdir(), 'inlet-bench-'));
const rows: BenchRow[] = [];
try {
  for (const name of chosen) {
    console.error(`running ${name}${values.quick ? ' (quick)' : ''} …`);
    rows.push(...(await SCENARIOS[name]!({ quick: values.quick ?? false, workDir, shapes: values.shape })));
  }
} finally {
  rmSync(workDir, { recursive: true, force: true });
}

const args = [...(values.quick ? ['--quick'] : []), ...(values.shape ?? []).flatMap((slug) => ['--shape', slug]), ...positionals];
const command = `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
const stages = stageTable(rows);
const stagesSection = stages ? `\n\n### Per stage\n\nMilliseconds of the median Inlet run's INDEX tasks (summed over tasks) beside DuckDB alone's median run on the same files.\n\n${stages}` : '';
const table = markdownTable(rows) + stagesSection;
console.log(`\n${table}\n\nmachine: ${machine()}\ncommand: ${command}`);
if (!values.quick && positionals.length === 0 && (values.shape ?? []).length === 0) {
  mkdirSync('docs', { recursive: true });
  // Everything from the marker on is written by people (what dominated, what changed) and kept.
  const previous = existsSync(BENCHMARKS) ? readFileSync(BENCHMARKS, 'utf8') : '';
  const analysis = previous.includes(ANALYSIS_MARKER) ? previous.slice(previous.indexOf(ANALYSIS_MARKER)) : `${ANALYSIS_MARKER}\n`;
  writeFileSync(
    BENCHMARKS,
    `# Benchmarks\n\nMeasured with \`${command}\` on ${machine()}, ${new Date().toISOString().slice(0, 10)}.\n` +
      `Each scenario runs DuckDB alone (the baseline) and Inlet on the same files in the same run; ` +
      `ratio is Inlet's throughput over the baseline's (for latency rows, see the notes).\n\n${table}\n\n${analysis}`,
  );
}
