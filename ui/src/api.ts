/** The console's only way to the server: the public HTTP API, with the token kept in sessionStorage. */

const SESSION_KEY = 'inlet.session';

export interface Session {
  readonly token: string;
  readonly org: string;
  readonly email: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function loadSession(): Session | undefined {
  const stored = sessionStorage.getItem(SESSION_KEY);
  if (!stored) return undefined;
  try {
    return JSON.parse(stored) as Session;
  } catch {
    return undefined;
  }
}

/** Listeners told when the server refuses the token, so the app shows the login form again. */
const loggedOut = new Set<() => void>();
export const onLoggedOut = (listener: () => void) => loggedOut.add(listener);

function forget(): void {
  sessionStorage.removeItem(SESSION_KEY);
  for (const listener of loggedOut) listener();
}

async function send(method: string, path: string, body?: string, contentType?: string): Promise<Response> {
  const session = loadSession();
  const headers: Record<string, string> = {};
  if (session) headers.authorization = `Bearer ${session.token}`;
  if (contentType) headers['content-type'] = contentType;
  const response = await fetch(path, { method, headers, body });
  if (response.ok) return response;
  const text = await response.text();
  let message = text;
  try {
    const parsed = JSON.parse(text) as { detail?: string; error?: string };
    message = parsed.detail ?? parsed.error ?? text;
  } catch {
    // A plain-text error is shown as it is.
  }
  if (response.status === 401 && session) forget();
  throw new ApiError(response.status, `${response.status}: ${message || response.statusText}`);
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await send(method, path, body === undefined ? undefined : JSON.stringify(body), body === undefined ? undefined : 'application/json');
  return (response.status === 204 ? undefined : await response.json()) as T;
}

export const orgPath = (rest: string) => `/config/v1/orgs/${loadSession()?.org ?? ''}${rest}`;

export async function login(username: string, password: string): Promise<Session> {
  sessionStorage.removeItem(SESSION_KEY);
  const answer = await api<{ email: string; orgs: { uuid: string }[]; auth_token: { access_token: string } }>('POST', '/config/v1/login', { username, password });
  const org = answer.orgs[0];
  if (!org) throw new ApiError(403, `${answer.email} belongs to no org: ask an admin to add you to one`);
  const session = { token: answer.auth_token.access_token, org: org.uuid, email: answer.email };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return session;
}

export async function logout(): Promise<void> {
  await send('POST', '/config/v1/logout').catch(() => undefined);
  forget();
}

export interface QueryAnswer {
  readonly meta: { name: string; type: string }[];
  readonly data: Record<string, unknown>[];
  readonly rows: number;
  readonly statistics?: { elapsed?: number; partitions_considered?: number; partitions_read?: number };
}

const TRAILING_FORMAT = /\bFORMAT\s+(\w+)\s*;?\s*$/i;

/** Runs SQL and reads ClickHouse's JSON layout: the SQL may end in FORMAT JSON, and in no other format. */
export async function query(sql: string): Promise<QueryAnswer> {
  const format = TRAILING_FORMAT.exec(sql);
  if (format && format[1]!.toUpperCase() !== 'JSON') {
    throw new ApiError(400, `FORMAT ${format[1]}: the console reads FORMAT JSON answers only; remove the FORMAT clause (inlet query --format ${format[1]} or POST /query answer in any format)`);
  }
  const body = sql.replace(TRAILING_FORMAT, '').trim().replace(/;\s*$/, '');
  const response = await send('POST', '/query', `${body}\nFORMAT JSON`, 'text/plain');
  return (await response.json()) as QueryAnswer;
}

// Job shapes, as docs/api.md describes them.
export type TaskCounts = Record<string, Record<string, number>>;
export interface Job {
  uuid: string;
  name: string;
  status: string;
  created: string;
  settings: { source: { table: string; transform?: string; settings: { url: string } } } & Record<string, unknown>;
  details: {
    errors: string[];
    duration_ms: number;
    status_detail: { tasks: TaskCounts; estimated: boolean; percent_complete: number };
    rows: { read: number; written: number; rejected: number };
    bytes_read: number;
    in_flight: { bytes_read: number; rows_read: number };
    partitions: { count: number; min_time: string | null; max_time: string | null };
  };
}
export interface FileReport {
  url: string;
  bytes: number;
  rows_read: number;
  rows_written: number;
  rows_rejected: number;
  rejects: { line?: number; column?: string; reason: string }[];
  error: string | null;
}
export const FINISHED = new Set(['done', 'failed', 'canceled']);
