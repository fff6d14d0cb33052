import { createReadStream } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SourceError } from '../errors.js';
import { isBelowRoots, type OpenedObject, type SourceObject } from './source-url.js';

/** Local files below the operator's roots, with the same prefix semantics as S3. */
export class FileSource {
  constructor(private readonly roots: readonly string[]) {}

  async *list(target: string, signal: AbortSignal): AsyncIterable<SourceObject> {
    const real = await this.realpathInside(target);
    const info = await stat(real, { bigint: true });
    if (info.isFile()) {
      yield { url: pathToFileURL(real).href, size: Number(info.size), version: fileVersion(info) };
      return;
    }
    // Sorted walk, so file:// listings come in the same order as S3's (lexicographic by key).
    const walk = async function* (dir: string): AsyncIterable<SourceObject> {
      const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        if (signal.aborted) return;
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) yield* walk(full);
        else if (entry.isFile()) {
          const file = await stat(full, { bigint: true });
          yield { url: pathToFileURL(full).href, size: Number(file.size), version: fileVersion(file) };
        }
      }
    };
    yield* walk(real);
  }

  /** The file's version now (see fileVersion). */
  async version(filePath: string): Promise<string> {
    const real = await this.realpathInside(filePath);
    try {
      return fileVersion(await stat(real, { bigint: true }));
    } catch (err) {
      throw new SourceError(`file ${filePath} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
  }

  /** The file's real path, checked to be below a root: DuckDB can read it where it is. */
  localPath(filePath: string): Promise<string> {
    return this.realpathInside(filePath);
  }

  async open(filePath: string): Promise<OpenedObject> {
    const real = await this.realpathInside(filePath);
    return { body: createReadStream(real) };
  }

  // Resolving symlinks before the check keeps a link inside a root from pointing outside it.
  private async realpathInside(target: string): Promise<string> {
    let real: string;
    try {
      real = await realpath(target);
    } catch (err) {
      throw new SourceError(`file ${target} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
    const realRoots = await Promise.all(this.roots.map((root) => realpath(root).catch(() => root)));
    if (!isBelowRoots(real, realRoots)) throw new SourceError(`file ${target} resolves to ${real}, outside the allowed roots`);
    return real;
  }
}

/**
 * A file rewritten in place keeps its name: its size and modification time (to the nanosecond
 * where the file system keeps them) tell a rewrite apart.
 */
function fileVersion(info: BigIntStats): string {
  return `size ${info.size}, modified ${new Date(Number(info.mtimeMs)).toISOString()} (${info.mtimeNs} ns)`;
}
