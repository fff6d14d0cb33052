import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { startLocalS3 } from '../../test/helpers/s3.js';
import { jobBody, runJob, startBenchInlet, type BenchInlet, type IndexPhases } from '../lib/inlet.js';
import { cpuSecondsOwn, cpuSecondsTree, median } from '../lib/measure.js';
import { duckdbAlone, type AloneResult } from '../lib/run-alone.js';
import { seedObject } from '../lib/seed-s3.js';
import { baselineSql, generateShape, SHAPES, shapeTransform, type Shape } from '../lib/shapes.js';
import type { BenchOptions, BenchRow } from '../report.js';

const BUCKET = 'bench-matrix';
const TARGET = 0.85;

/** How big and how often: the full run, `--quick`, and the test's smoke run. */
export interface MatrixSize {
  readonly rowsPerShape: number;
  /** Runs of each side, alternated; the medians are compared. */
  readonly runs: number;
  /** Inlet from its TypeScript sources instead of dist/ (see startBenchInlet): for tests. */
  readonly fromSources?: boolean;
}

// INLET_BENCH_MATRIX_ROWS sets another size, to see whether a ratio is a fixed cost or scales with the data.
export const MATRIX_FULL: MatrixSize = { rowsPerShape: Number(process.env.INLET_BENCH_MATRIX_ROWS ?? 2_000_000), runs: 3 };
export const MATRIX_QUICK: MatrixSize = { rowsPerShape: 200_000, runs: 3 };

/** One shape's outcome: both sides' row counts (checked equal to the expected) and the rows to print. */
export interface ShapeResult {
  readonly shape: Shape;
  readonly expectedRows: number;
  readonly inletRows: number[];
  readonly baselineRows: number[];
  readonly rows: BenchRow[];
}

/** The shape matrix: every shape through DuckDB alone and Inlet, in the same run. Target: ≥ 0.85 × DuckDB alone. */
export async function matrix(options: BenchOptions): Promise<BenchRow[]> {
  const unknown = options.shapes?.filter((slug) => !SHAPES.some((s) => s.slug === slug)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown --shape ${unknown.join(', ')}: use ${SHAPES.map((s) => s.slug).join(', ')}`);
  const shapes = options.shapes?.length ? SHAPES.filter((s) => options.shapes!.includes(s.slug)) : SHAPES;
  const results = await runMatrix(options.workDir, options.quick ? MATRIX_QUICK : MATRIX_FULL, shapes);
  return results.flatMap((r) => r.rows);
}

/** Runs the matrix at `size`; throws when a side's row count is not the expected one. */
export async function runMatrix(workDir: string, size: MatrixSize, shapes: readonly Shape[] = SHAPES): Promise<ShapeResult[]> {
  const s3 = await startLocalS3();
  try {
    await s3.createBucket(BUCKET);
    const inlet = await startBenchInlet(workDir, s3.endpoint, {}, { fromSources: size.fromSources });
    try {
      const project = await inlet.api.request('POST', `/config/v1/orgs/${inlet.api.orgId}/projects`, { name: 'matrix' });
      if (project.status !== 201) throw new Error(project.text);
      const results: ShapeResult[] = [];
      for (const shape of shapes) results.push(await runShape(inlet, s3, project.body.uuid as string, workDir, shape, size));
      return results;
    } finally {
      await inlet.stop();
    }
  } finally {
    await s3.stop();
  }
}

async function runShape(inlet: BenchInlet, s3: { dir: string; pid: number }, projectId: string, workDir: string, shape: Shape, size: MatrixSize): Promise<ShapeResult> {
  const data = await generateShape(shape, path.join(workDir, 'matrix', shape.slug), size.rowsPerShape);
  const inputBytes = data.files.reduce((sum, f) => sum + statSync(f).size, 0);
  for (const file of data.files) seedObject(s3.dir, BUCKET, `${shape.slug}/${path.basename(file)}`, { file });
  const api = inlet.api;
  const tables = `/config/v1/orgs/${api.orgId}/projects/${projectId}/tables`;
  const table = await api.request('POST', tables, { name: shape.slug });
  if (table.status !== 201) throw new Error(table.text);
  const transform = await api.request('POST', `${tables}/${table.body.uuid}/transforms`, shapeTransform(shape));
  if (transform.status !== 201) throw new Error(transform.text);

  const expectedRows = data.rows - data.rejected;
  const out = path.join(workDir, `matrix-${shape.slug}`);
  mkdirSync(out, { recursive: true });
  const baselines: AloneResult[] = [];
  const inlets: { seconds: number; job: any; phases: IndexPhases[]; cpuSeconds: number; apiCpuSeconds: number; s3CpuSeconds: number }[] = [];
  await inlet.takeIndexPhases();
  // One run of each varies by ±30 % on a shared machine: alternate them, take medians.
  for (let run = 0; run < size.runs; run++) {
    baselines.push(await duckdbAlone(baselineSql(shape, data.files, out)));
    // CPU of the Inlet process tree (API and worker), and of s3rver serving it the objects on the same cores.
    const cpuBefore = cpuSecondsTree(inlet.pid);
    const apiBefore = cpuSecondsOwn(inlet.pid);
    const s3Before = cpuSecondsTree(s3.pid);
    const { job, seconds } = await runJob(api, `/config/v1/orgs/${api.orgId}/jobs/batch`, jobBody(`matrix ${shape.slug} ${run + 1}`, `s3://${BUCKET}/${shape.slug}/`, `t_${shape.slug}`, {}, `matrix.${shape.slug}`));
    const cpuSeconds = cpuSecondsTree(inlet.pid) - cpuBefore;
    const apiCpuSeconds = cpuSecondsOwn(inlet.pid) - apiBefore;
    const s3CpuSeconds = cpuSecondsTree(s3.pid) - s3Before;
    inlets.push({ seconds, job, cpuSeconds, apiCpuSeconds, s3CpuSeconds, phases: await inlet.takeIndexPhases(job.details.status_detail.tasks.INDEX?.DONE ?? 0) });
  }
  const inletRows = inlets.map((r) => Number(r.job.details.rows.written));
  const baselineRows = baselines.map((b) => Number(b.lastValue));
  for (const [side, counts] of [
    ['inlet', inletRows],
    ['DuckDB alone', baselineRows],
  ] as const) {
    const wrong = counts.find((n) => n !== expectedRows);
    if (wrong !== undefined) throw new Error(`matrix ${shape.slug}: ${side} wrote ${wrong} rows, expected ${expectedRows}`);
  }

  const baseline = baselines.find((b) => b.seconds === median(baselines.map((x) => x.seconds)))!;
  const chosen = inlets.find((r) => r.seconds === median(inlets.map((x) => x.seconds)))!;
  const spread = (values: number[]) => (values.length > 1 ? `; median of ${values.length} (${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)} s)` : '');
  const sum = (key: keyof IndexPhases) => chosen.phases.reduce((total, p) => total + p[key], 0);
  const ratio = baseline.seconds / chosen.seconds;
  const scenario = `matrix: ${shape.label}`;
  return {
    shape,
    expectedRows,
    inletRows,
    baselineRows,
    rows: [
      {
        scenario,
        variant: 'baseline: DuckDB alone',
        rows: data.rows,
        inputBytes,
        seconds: baseline.seconds,
        peakRssBytes: baseline.peakRssBytes,
        notes: `local files: read+convert ${baseline.statementSeconds[0]!.toFixed(2)} s, sort+write ${baseline.statementSeconds[1]!.toFixed(2)} s; ${baseline.cpuSeconds.toFixed(2)} s of CPU${spread(baselines.map((b) => b.seconds))}`,
      },
      {
        scenario,
        variant: 'inlet',
        rows: data.rows,
        inputBytes,
        seconds: chosen.seconds,
        ratio,
        target: `throughput ≥ ${TARGET} × baseline`,
        met: ratio >= TARGET,
        notes: `via S3, ${chosen.job.details.status_detail.tasks.INDEX.DONE} INDEX tasks, ${chosen.job.details.rows.rejected} rows rejected; ${chosen.cpuSeconds.toFixed(2)} s of CPU (the API process ${chosen.apiCpuSeconds.toFixed(2)} s of it), s3rver ${chosen.s3CpuSeconds.toFixed(2)} s${spread(inlets.map((r) => r.seconds))}, alternating with the baseline`,
        stages: {
          inlet: { fetchMs: sum('fetchMs'), convertMs: sum('convertMs'), writeMs: sum('writeMs') },
          duckdb: { readConvertMs: baseline.statementSeconds[0]! * 1000, sortWriteMs: baseline.statementSeconds[1]! * 1000 },
        },
      },
    ],
  };
}
