import http from 'node:http';
import net from 'node:net';

/**
 * A plain keep-alive HTTP client, as curl or a dashboard's backend is. The bench's clients share
 * the server's 2 cores, and fetch() (undici) spends ~1.5 ms more CPU per request than node:http:
 * with fetch, polling and query figures partly measured the clients.
 */
export function keepAliveClient(baseUrl: string, token: string | undefined, maxSockets = 64) {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const post = (route: string, body = '', headers: Record<string, string> = {}) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request = http.request(
        `${baseUrl}${route}`,
        { method: 'POST', agent, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-length': String(Buffer.byteLength(body)), ...headers } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  return { post, close: () => agent.destroy() };
}

/**
 * HTTP/1.1 over one keep-alive socket with nothing but the framing: what curl or a Go client
 * spends on an answer. Node's own clients cost the bench's process ~0.4 ms of cold JavaScript
 * per answer (node:http 1.19 ms and undici 1.15 ms against 0.77 ms for this, to a bare Fastify
 * route 200 ms apart): a latency target on the server would partly measure the client.
 * One request at a time; answers framed by content-length or chunked.
 */
export function bareHttpClient(baseUrl: string, token: string | undefined) {
  const url = new URL(baseUrl);
  let socket: net.Socket | undefined;
  let pending: ((chunk: Buffer) => void) | undefined;
  let failed: ((err: Error) => void) | undefined;
  const connect = () => {
    const s = net.connect(Number(url.port), url.hostname);
    s.setNoDelay(true);
    s.on('data', (chunk: Buffer) => pending?.(chunk));
    s.on('error', (err) => failed?.(err));
    s.on('close', () => {
      if (socket === s) socket = undefined;
      failed?.(new Error('the server closed the connection before answering'));
    });
    return s;
  };
  const post = (route: string, body = '', headers: Record<string, string> = {}) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      if (pending) throw new Error('bareHttpClient: one request at a time');
      socket ??= connect();
      let received: Buffer = Buffer.alloc(0);
      const done = (result: { status: number; text: string } | Error) => {
        pending = failed = undefined;
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      failed = done;
      pending = (chunk) => {
        received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
        try {
          const answer = parseAnswer(received);
          if (answer) done(answer);
        } catch (err) {
          done(err as Error);
        }
      };
      const lines = [
        `POST ${route} HTTP/1.1`,
        `host: ${url.host}`,
        ...(token ? [`authorization: Bearer ${token}`] : []),
        `content-length: ${Buffer.byteLength(body)}`,
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      ];
      socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
    });
  return { post, close: () => socket?.destroy() };
}

/** A whole answer once `data` holds one, else undefined. */
export function parseAnswer(data: Buffer): { status: number; text: string } | undefined {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const head = data.subarray(0, headEnd).toString('latin1');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
  if (!status) throw new Error(`not an HTTP answer: ${head.slice(0, 100)}`);
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length) {
    const end = headEnd + 4 + Number(length[1]);
    return data.length >= end ? { status, text: data.subarray(headEnd + 4, end).toString() } : undefined;
  }
  if (!/\r\ntransfer-encoding:\s*chunked/i.test(head)) throw new Error('bareHttpClient: an answer without content-length must be chunked');
  const parts: Buffer[] = [];
  for (let at = headEnd + 4; ;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (data.length < lineEnd + 2 + size + 2) return undefined;
    if (size === 0) return { status, text: Buffer.concat(parts).toString() };
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}
