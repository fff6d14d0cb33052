import { createReadStream } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { SourceError } from '../errors.js';
import { isBelowRoots, type SourceObject } from './source-url.js';

/** Local files below the operator's roots, with the same prefix semantics as S3. */
export class FileSource {
  constructor(private readonly roots: readonly string[]) {}

  async *list(target: string, signal: AbortSignal): AsyncIterable<SourceObject> {
    const real = await this.realpathInside(target);
    const info = await stat(real);
    if (info.isFile()) {
      yield { url: pathToFileURL(real).href, size: info.size };
      return;
    }
    // Sorted walk, so file:// listings come in the same order as S3's (lexicographic by key).
    const walk = async function* (dir: string): AsyncIterable<SourceObject> {
      const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        if (signal.aborted) return;
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) yield* walk(full);
        else if (entry.isFile()) yield { url: pathToFileURL(full).href, size: (await stat(full)).size };
      }
    };
    yield* walk(real);
  }

  /** The file's real path, checked to be below a root: DuckDB can read it where it is. */
  localPath(filePath: string): Promise<string> {
    return this.realpathInside(filePath);
  }

  async open(filePath: string): Promise<Readable> {
    const real = await this.realpathInside(filePath);
    return createReadStream(real);
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
