import { createReadStream } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { SourceError } from '../errors.js';
import { isBelowRoots, type ListOptions, type OpenedObject, type SourceObject } from './source-url.js';

/** Local files below the operator's roots, with the same prefix semantics as S3. */
export class FileSource {
  constructor(private readonly roots: readonly string[]) {}

  /**
   * Pages of at most `pageSize` files below `target`, in walk order (each directory sorted by
   * name), starting after the file `after` when a listing resumes.
   */
  async *list(target: string, signal: AbortSignal, options: ListOptions): AsyncIterable<SourceObject[]> {
    const real = await this.realpathInside(target);
    const info = await stat(real, { bigint: true });
    if (info.isFile()) {
      if (options.after === undefined) yield [{ url: pathToFileURL(real).href, size: Number(info.size), version: fileVersion(info) }];
      return;
    }
    let page: SourceObject[] = [];
    for await (const object of walk(real, signal, options.after === undefined ? undefined : path.relative(real, options.after).split(path.sep), options.notListed)) {
      page.push(object);
      if (page.length >= options.pageSize) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
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

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Is the path `a` (as segments) before `b` in walk order? A directory comes before what it holds. */
function beforeInWalk(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return a.length < b.length;
}

/** Why a directory listing leaves a symbolic link out. */
const LINK_NOT_FOLLOWED =
  'a symbolic link, which a directory listing does not follow (a link to a file listed too would load it twice, one to a directory may loop): name the link itself in the job to load what it points to';

/**
 * Files below `dir`, each directory sorted by name, so file:// listings come in the same order
 * as S3's within a directory; `after` (segments below `dir`) skips every file up to it, and
 * every directory that ends before it without reading it. Symbolic links are told to `notListed`.
 */
async function* walk(dir: string, signal: AbortSignal, after: readonly string[] | undefined, notListed?: (url: string, why: string) => void): AsyncIterable<SourceObject> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => byName(a.name, b.name));
  for (const entry of entries) {
    if (signal.aborted) return;
    const full = path.join(dir, entry.name);
    const rest = after && after[0] === entry.name ? after.slice(1) : undefined;
    if (entry.isDirectory()) {
      if (rest && rest.length > 0) yield* walk(full, signal, rest, notListed);
      else if (!after || !beforeInWalk([entry.name], after)) yield* walk(full, signal, undefined, notListed);
    } else if (entry.isFile()) {
      if (after && (beforeInWalk([entry.name], after) || (rest !== undefined && rest.length === 0))) continue;
      const file = await stat(full, { bigint: true });
      yield { url: pathToFileURL(full).href, size: Number(file.size), version: fileVersion(file) };
    } else if (entry.isSymbolicLink() && !(after && beforeInWalk([entry.name], after))) {
      notListed?.(pathToFileURL(full).href, LINK_NOT_FOLLOWED);
    }
  }
}

/**
 * A file rewritten in place keeps its name: its size and modification time (to the nanosecond
 * where the file system keeps them) tell a rewrite apart.
 */
function fileVersion(info: BigIntStats): string {
  return `size ${info.size}, modified ${new Date(Number(info.mtimeMs)).toISOString()} (${info.mtimeNs} ns)`;
}
