import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '../errors.js';

export type SourceUrl =
  | { readonly scheme: 's3'; readonly bucket: string; readonly key: string }
  | { readonly scheme: 'file'; readonly path: string }
  /** A job's quarantine (`rejects://{job uuid}`), or one file of it (`rejects://{job uuid}/{file id}`). */
  | { readonly scheme: 'rejects'; readonly jobId: string; readonly fileId?: string };

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const REJECTS_URL = new RegExp(`^rejects://(${UUID})(?:/(${UUID}))?/?$`, 'i');

/** One listed source object: its full URL (what regex_filter sees), key or path, and size. */
export interface SourceObject {
  readonly url: string;
  readonly size: number;
  /** What says the object is the one listed: S3's ETag, a file's size and modification time. */
  readonly version?: string;
}

/** Where a listing starts and how much one page holds. */
export interface ListOptions {
  /** Resume after this object (a path for files, a key for S3): every object up to it was listed before. */
  readonly after?: string;
  readonly pageSize: number;
  /** Told of each entry a listing leaves out that is no object (a symbolic link in a file:// directory), with why. */
  readonly notListed?: (url: string, why: string) => void;
}

/** An object being read, with the version its bytes are of when the source says so. */
export interface OpenedObject {
  readonly body: Readable;
  readonly version?: string;
}

/**
 * Parses a job's `settings.url`. file:// URLs must lie below one of the operator's roots:
 * a job must never read /etc/passwd because someone could create jobs.
 */
export function parseSourceUrl(url: unknown, fileRoots: readonly string[], field = 'settings.source.settings.url'): SourceUrl {
  if (typeof url !== 'string' || url === '') {
    throw new ValidationError(`${field} is ${JSON.stringify(url)}: use s3://bucket/prefix/, s3://bucket/key or file:///path`);
  }
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (s3) {
    const bucket = s3[1]!;
    if (bucket.length < 3 || bucket.length > 63) {
      throw new ValidationError(`${field} names bucket "${bucket}": S3 bucket names are 3 to 63 characters`);
    }
    return { scheme: 's3', bucket, key: s3[2]! };
  }
  if (url.startsWith('file://')) {
    if (fileRoots.length === 0) {
      throw new ValidationError(`${field} is ${url}: file:// sources are disabled; the operator can allow directories with INLET_FILE_ROOTS`);
    }
    let filePath: string;
    try {
      filePath = fileURLToPath(url);
    } catch {
      throw new ValidationError(`${field} is ${url}: use an absolute file URL such as file:///data/logs/`);
    }
    const resolved = path.resolve(filePath) + (url.endsWith('/') ? '/' : '');
    if (!isBelowRoots(resolved, fileRoots)) {
      throw new ValidationError(`${field} is ${url}: it is outside the allowed roots (${fileRoots.join(', ')}); use a path below one of them`);
    }
    return { scheme: 'file', path: resolved };
  }
  if (url.startsWith('rejects://')) {
    const m = REJECTS_URL.exec(url);
    if (!m) throw new ValidationError(`${field} is ${JSON.stringify(url)}: a job's rejected records are read as rejects://{job uuid}, the uuid of a job of this org`);
    return { scheme: 'rejects', jobId: m[1]!.toLowerCase(), ...(m[2] ? { fileId: m[2].toLowerCase() } : {}) };
  }
  throw new ValidationError(`${field} is ${JSON.stringify(url)}: use s3://bucket/prefix/, s3://bucket/key or file:///path`);
}

export function isBelowRoots(resolved: string, roots: readonly string[]): boolean {
  return roots.some((root) => resolved === root || resolved.startsWith(root.endsWith(path.sep) ? root : root + path.sep));
}
