#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so the installed `inlet` needs no build step.
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { register } from 'tsx/esm/api';

register();
const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/cli.ts');
await import(pathToFileURL(cli).href);
