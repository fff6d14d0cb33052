import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export type Fault = 'status500' | 'reset' | 'truncate' | 'before' | 'stall';

interface Rule {
  readonly method: string;
  readonly path: RegExp;
  readonly fault: Fault;
  /** For `before`: runs before the request goes on to the server (to change an object under its reader). */
  readonly action?: () => Promise<void>;
  /** How many matching requests fail before the rule lets them through; Infinity for always. */
  remaining: number;
  hits: number;
}

/**
 * An HTTP proxy in front of the S3 server that breaks chosen requests: a 500, a reset
 * connection, a body cut off halfway, or one that stops halfway and never ends (a stalled download). Host headers pass through, so signatures still match.
 */
export class FaultProxy {
  private readonly rules: Rule[] = [];
  private server: Server | undefined;
  endpoint = '';

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  /** Fails the next `times` requests matching method and path (the URL path, e.g. /bucket/key). */
  fail(method: string, path: RegExp, fault: Fault, times = Infinity): Rule {
    const rule: Rule = { method, path, fault, remaining: times, hits: 0 };
    this.rules.push(rule);
    return rule;
  }

  /** Runs `action` before each of the next `times` matching requests is passed on. */
  before(method: string, path: RegExp, action: () => Promise<void>, times = 1): Rule {
    const rule: Rule = { method, path, fault: 'before', action, remaining: times, hits: 0 };
    this.rules.push(rule);
    return rule;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse) {
    const rule = this.rules.find((r) => r.method === req.method && r.path.test(req.url!.split('?')[0]!) && r.remaining > 0);
    if (rule) {
      rule.remaining--;
      rule.hits++;
      if (rule.fault === 'status500') {
        res.writeHead(500, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>');
        return;
      }
      if (rule.fault === 'reset') {
        req.socket.destroy();
        return;
      }
      if (rule.fault === 'before') {
        req.pause();
        void rule.action!().then(
          () => this.forward(req, res, undefined),
          () => req.socket.destroy(),
        );
        return;
      }
    }
    this.forward(req, res, rule);
  }

  private forward(req: IncomingMessage, res: ServerResponse, rule: Rule | undefined) {
    const url = new URL(req.url!, this.target);
    const upstream = httpRequest(url, { method: req.method, headers: req.headers }, (up) => {
      if (rule?.fault === 'stall') {
        res.writeHead(up.statusCode!, up.headers);
        const half = Math.floor(Number(up.headers['content-length'] ?? 0) / 2);
        up.once('data', (chunk: Buffer) => {
          up.destroy();
          res.write(chunk.subarray(0, half));
        });
        return;
      }
      if (rule?.fault === 'truncate') {
        // Headers go out first, so the client sees a response whose body stops halfway.
        res.writeHead(up.statusCode!, up.headers);
        res.flushHeaders();
        let sent = 0;
        const half = Math.floor(Number(up.headers['content-length'] ?? 0) / 2);
        up.on('data', (chunk: Buffer) => {
          if (sent + chunk.length >= half) {
            up.destroy();
            res.write(chunk.subarray(0, Math.max(0, half - sent)), () => setTimeout(() => res.socket?.destroy(), 20));
            sent = Infinity;
            return;
          }
          sent += chunk.length;
          res.write(chunk);
        });
        return;
      }
      res.writeHead(up.statusCode!, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.socket?.destroy());
    req.pipe(upstream);
  }
}
