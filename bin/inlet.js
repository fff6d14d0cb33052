#!/usr/bin/env node
// Runs the compiled CLI in dist/ with plain node. In a source checkout whose dist/ is missing or
// older than src/ (a fresh clone, or code changed since the last build), it runs the TypeScript
// source through tsx instead: the tests and development need no build step, and a stale build
// never runs in place of the code beside it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { distIsCurrent } from '../scripts/build.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
if (distIsCurrent(root)) {
  await import(pathToFileURL(path.join(root, 'dist/cli.js')).href);
} else if (existsSync(path.join(root, 'src/cli.ts'))) {
  // The worker and query processes `inlet serve` starts take the parent's execArgv: tsx's loader
  // has to be there, by absolute URL, for them to load TypeScript too.
  process.execArgv.push('--import', import.meta.resolve('tsx'));
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(path.join(root, 'src/cli.ts')).href);
} else {
  process.stderr.write(`inlet: ${path.join(root, 'dist')} is missing: run \`npm run build\` in ${root}\n`);
  process.exit(1);
}
