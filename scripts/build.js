// Compiles src/ into dist/ (tsc), which `npm start` and the installed `inlet` run with plain node.
// Plain JavaScript: bin/inlet.js asks it whether dist/ is current before tsx is loaded, or where
// tsx is not installed at all.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Written last, once a build is whole: its time says which sources the build saw. */
const MARK = '.built';
const SOURCES = ['src', 'tsconfig.json', 'tsconfig.build.json'];

function newestChange(entry) {
  if (!existsSync(entry)) return 0;
  const stat = statSync(entry);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(entry).map((name) => newestChange(path.join(entry, name))));
}

/**
 * Whether dist/ holds a whole build at least as new as every source. An installed package has
 * no src/: its packed dist/ is current by definition.
 * @param {string} root
 */
export function distIsCurrent(root = ROOT) {
  const mark = path.join(root, 'dist', MARK);
  if (!existsSync(mark)) return false;
  if (!existsSync(path.join(root, 'src'))) return true;
  const built = statSync(mark).mtimeMs;
  return SOURCES.every((source) => newestChange(path.join(root, source)) <= built);
}

/**
 * Emits into a directory of its own, then swaps it in: two builds at once (two `npm start`s, a
 * test beside one) never leave a half-written dist/ for a process to load. Types are not
 * checked here (`npm run typecheck` does, in `npm test`): emitting alone takes a fraction of it.
 * @param {string} root
 * @param {string} outDir where the build goes, relative to root; dist/ but for tests
 */
export function buildDist(root = ROOT, outDir = 'dist') {
  let tsc;
  try {
    tsc = createRequire(path.join(root, 'package.json')).resolve('typescript/bin/tsc');
  } catch {
    throw new Error('TypeScript is not installed (a dev dependency): run `npm install` with dev dependencies, or install a package that `npm pack` built');
  }
  const target = path.join(root, outDir);
  const fresh = path.join(root, `.dist-build-${process.pid}-${Date.now()}`);
  const old = `${fresh}-old`;
  try {
    const run = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--noCheck', '--outDir', fresh], { cwd: root, stdio: 'inherit' });
    if (run.status !== 0) throw new Error(`tsc exited with ${run.signal ?? run.status}; see its output above`);
    writeFileSync(path.join(fresh, MARK), `${new Date().toISOString()}\n`);
    if (existsSync(target)) renameSync(target, old);
    try {
      renameSync(fresh, target);
    } catch (err) {
      // Another build swapped its own in between: the same sources, the same files.
      if (!existsSync(path.join(target, MARK))) throw err;
    }
  } finally {
    rmSync(fresh, { recursive: true, force: true });
    rmSync(old, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const force = process.argv.includes('--force');
  // Tests build elsewhere (--out-dir .tmp/...), so that a build never swaps dist/ under processes running from it.
  const outDirAt = process.argv.indexOf('--out-dir');
  const outDir = outDirAt > 0 ? process.argv[outDirAt + 1] : undefined;
  try {
    if (outDir !== undefined || force || !distIsCurrent()) {
      const started = Date.now();
      buildDist(ROOT, outDir);
      process.stderr.write(`compiled src/ into ${outDir ?? 'dist'}/ in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    }
  } catch (err) {
    process.stderr.write(`could not build dist/: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
