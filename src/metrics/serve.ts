import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { carriesBearerToken, METRICS_TOKEN_HELP } from './token.js';

export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * GET /metrics of a `--role worker` process, which has no API to serve it: a bare HTTP server,
 * since Fastify and its routes would be a whole API's weight for one read-only page.
 */
export async function serveMetrics(registry: Registry, options: { host: string; port: number; token: string | undefined }, log: Logger): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('This port serves GET /metrics only (a --role worker process has no API).\n');
      return;
    }
    if (options.token !== undefined && !carriesBearerToken(request.headers.authorization, options.token)) {
      response.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' }).end(`/metrics ${METRICS_TOKEN_HELP}\n`);
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(request.method === 'HEAD' ? undefined : text),
      (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'collecting the worker metrics failed');
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('collecting the metrics failed; see the worker log\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host === '0.0.0.0' ? 'localhost' : options.host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
