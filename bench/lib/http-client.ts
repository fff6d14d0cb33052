import http from 'node:http';

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
