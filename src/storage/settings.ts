import { createHash } from 'node:crypto';
import { ValidationError } from '../errors.js';

/** A storage's `settings`, as the Storages API takes them (Hydrolix's shape). */
export interface StorageSettings {
  readonly bucket_name: string;
  readonly bucket_path: string;
  readonly region?: string;
  readonly cloud?: string;
  readonly endpoint?: string;
  /** One of the org's stored credentials to reach the bucket with, instead of the processes' own. */
  readonly credential_id?: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export const AWS_ENDPOINT = /^https:\/\/([a-z0-9-]+\.)*amazonaws\.com(\.cn)?\/?$/;

/**
 * Checks a storage's settings; the message names the field, the value and the fix. Requests to
 * a storage carry the processes' own AWS credentials, so its endpoint must be AWS or the
 * endpoint the operator configured (`processEndpoint`), not any host an API user names.
 */
export function validateStorageSettings(value: unknown, processEndpoint: string | undefined): StorageSettings {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ValidationError(`settings is ${JSON.stringify(value)}: give an object with bucket_name`);
  const s = value as Record<string, unknown>;
  const optional = (field: string): string | undefined => {
    const v = s[field];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new ValidationError(`settings.${field} is ${JSON.stringify(v)}: give a string`);
    // An S3 key is at most 1024 bytes: no path, endpoint or region is longer.
    if (v.length > 1024) throw new ValidationError(`settings.${field} is ${v.length} characters long: give at most 1024`);
    return v;
  };
  const bucket = s.bucket_name;
  if (typeof bucket !== 'string' || !BUCKET.test(bucket)) {
    throw new ValidationError(`settings.bucket_name is ${JSON.stringify(bucket)}: give an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)`);
  }
  const path = (optional('bucket_path') ?? '').split('/').filter(Boolean);
  if (path.some((part) => part === '.' || part === '..')) throw new ValidationError(`settings.bucket_path is ${JSON.stringify(s.bucket_path)}: "." and ".." segments are not allowed`);
  const endpoint = optional('endpoint');
  if (endpoint !== undefined && !AWS_ENDPOINT.test(endpoint) && endpoint.replace(/\/$/, '') !== processEndpoint?.replace(/\/$/, '')) {
    throw new ValidationError(
      `settings.endpoint is ${JSON.stringify(endpoint)}: storages are reached with the processes' own credentials, so give an https://…amazonaws.com endpoint, ${processEndpoint ? `the processes' AWS_ENDPOINT_URL_S3 (${processEndpoint}), ` : ''}or none`,
    );
  }
  const region = optional('region');
  const cloud = optional('cloud');
  const credential = optional('credential_id');
  return { bucket_name: bucket, bucket_path: path.join('/'), ...(region ? { region } : {}), ...(cloud ? { cloud } : {}), ...(endpoint ? { endpoint } : {}), ...(credential ? { credential_id: credential } : {}) };
}

/** `s3://bucket/path/`: where a storage's objects are. */
export const storageUrlOf = (s: StorageSettings) => `s3://${s.bucket_name}/${s.bucket_path ? `${s.bucket_path}/` : ''}`;

/** The settings INLET_STORAGE_URL (`s3://bucket/prefix/`) means. */
export function settingsOfUrl(url: string, endpoint: string | undefined, region: string): StorageSettings {
  const [bucket = '', ...rest] = url.slice('s3://'.length).split('/');
  return { bucket_name: bucket, bucket_path: rest.filter(Boolean).join('/'), region, cloud: 'aws', ...(endpoint ? { endpoint } : {}) };
}

/** The same on every process started with the same INLET_STORAGE_URL, so they agree on it without asking each other. */
export function defaultStorageId(storageUrl: string, endpoint: string | undefined): string {
  const hex = createHash('sha256')
    .update(`inlet default storage\n${storageUrl}\n${endpoint ?? ''}`)
    .digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((parseInt(hex[16]!, 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
