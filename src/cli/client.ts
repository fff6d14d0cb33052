import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { errorMessage } from '../errors.js';

/** The server answered with an error status: `detail` is its message (Config API) or `error` (query API). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

/** No HTTP answer at all: the server is down, the URL is wrong, the connection broke. */
export class UnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreachableError';
  }
}

export interface RequestOptions {
  /** Sent as JSON. */
  readonly json?: unknown;
  /** Sent as text/plain (SQL). */
  readonly text?: string;
  readonly query?: Record<string, string | number | boolean | undefined>;
}

/** Reads an error answer's message whatever its shape, so the user sees one line from the server. */
function detailOf(status: number, text: string): string {
  try {
    const body = JSON.parse(text) as { detail?: unknown; error?: unknown };
    const message = body.detail ?? body.error;
    if (typeof message === 'string') return message;
    if (message !== undefined) return JSON.stringify(message);
  } catch {
    // Not JSON: the text itself is the message.
  }
  return text.trim() || `HTTP ${status} with an empty body`;
}

/** A client of Inlet's HTTP API, the only way the CLI reaches Inlet. */
export class InletClient {
  readonly url: string;

  constructor(
    url: string,
    private readonly token: string | undefined,
  ) {
    this.url = url.replace(/\/+$/, '');
  }

  private async send(method: string, route: string, options: RequestOptions): Promise<Response> {
    const target = new URL(this.url + route);
    for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) target.searchParams.set(key, String(value));
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let body: string | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.text !== undefined) {
      headers['content-type'] = 'text/plain';
      body = options.text;
    }
    let response: Response;
    try {
      response = await fetch(target, { method, headers, body });
    } catch (err) {
      throw this.unreachable(err);
    }
    if (response.status >= 400) throw new ApiError(response.status, detailOf(response.status, await this.read(response)));
    return response;
  }

  private unreachable(err: unknown): UnreachableError {
    const cause = (err as { cause?: unknown }).cause;
    return new UnreachableError(`cannot reach ${this.url}: ${errorMessage(cause ?? err)}`);
  }

  private async read(response: Response): Promise<string> {
    try {
      return await response.text();
    } catch (err) {
      throw this.unreachable(err);
    }
  }

  /** Answers the body as text; throws ApiError on an error status, UnreachableError when there is no answer. */
  async requestText(method: string, route: string, options: RequestOptions = {}): Promise<string> {
    return this.read(await this.send(method, route, options));
  }

  /** Writes the body to `sink` as it arrives, so an answer larger than memory passes through. */
  async requestInto(method: string, route: string, options: RequestOptions, sink: Writable): Promise<void> {
    const response = await this.send(method, route, options);
    if (!response.body) return;
    await pipeline(Readable.fromWeb(response.body as ReadableStream), sink, { end: false });
  }

  async request<T = unknown>(method: string, route: string, options: RequestOptions = {}): Promise<T> {
    const text = await this.requestText(method, route, options);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(200, `${method} ${route} answered something that is not JSON: ${text.slice(0, 200)}`);
    }
  }
}
