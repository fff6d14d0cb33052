import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Builds the console (ui/ → ui/dist/) when the build is missing or older than its sources, so
 * `npm install && npm start` and the tests serve a current console with no separate step, and
 * a start with nothing changed costs only a few file stats.
 */

const UI_DIR = path.dirname(fileURLToPath(import.meta.url));
export const CONSOLE_DIST = path.join(UI_DIR, 'dist');
const BUILT_MARK = path.join(CONSOLE_DIST, 'index.html');
const SOURCES = ['index.html', 'vite.config.ts', 'src', path.join('..', 'package-lock.json')];

function newestChange(entry: string): number {
  if (!existsSync(entry)) return 0;
  const stat = statSync(entry);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(entry).map((name) => newestChange(path.join(entry, name))));
}

export function consoleBuildIsCurrent(): boolean {
  if (!existsSync(BUILT_MARK)) return false;
  const built = statSync(BUILT_MARK).mtimeMs;
  return SOURCES.every((source) => newestChange(path.join(UI_DIR, source)) <= built);
}

/**
 * Builds into a directory of its own, then swaps it in: two builds at once (two `npm start`s,
 * or a test beside one) never leave a half-written or emptied ui/dist for a server to read.
 */
export async function buildConsole(): Promise<void> {
  // Imported only when needed: a production install without dev dependencies has no vite.
  const { build } = await import('vite');
  const fresh = path.join(UI_DIR, `.build-${process.pid}-${Date.now()}`);
  const old = `${fresh}-old`;
  try {
    await build({ configFile: path.join(UI_DIR, 'vite.config.ts'), build: { outDir: fresh, emptyOutDir: true } });
    if (existsSync(CONSOLE_DIST)) renameSync(CONSOLE_DIST, old);
    try {
      renameSync(fresh, CONSOLE_DIST);
    } catch (err) {
      // Another build swapped its own in between: the same sources, the same files.
      if (!existsSync(path.join(CONSOLE_DIST, 'index.html'))) throw err;
    }
  } finally {
    rmSync(fresh, { recursive: true, force: true });
    rmSync(old, { recursive: true, force: true });
  }
}

/** Builds unless current; answers whether it built. */
export async function ensureConsoleBuilt(): Promise<boolean> {
  if (consoleBuildIsCurrent()) return false;
  await buildConsole();
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const force = process.argv.includes('--force');
  try {
    if (force) {
      await buildConsole();
    } else if (await ensureConsoleBuilt()) {
      process.stderr.write(`console built into ${CONSOLE_DIST}\n`);
    }
  } catch (err) {
    // The API serves without a console rather than not at all; /ui says how to build it.
    process.stderr.write(`could not build the console (${err instanceof Error ? err.message : String(err)}): /ui will say so; run npm run build:ui\n`);
    process.exitCode = force ? 1 : 0;
  }
}
