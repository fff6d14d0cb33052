import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { bareHttpClient, parseAnswer } from '../bench/lib/http-client.js';

// The query bench's latency figure rests on this client reading answers whole and in order.
describe("the bench's bare HTTP client", () => {
  test('frames an answer by content-length, and waits for all of it', () => {
    const answer = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
    assert.deepEqual(parseAnswer(answer), { status: 200, text: 'hello' });
    assert.equal(parseAnswer(answer.subarray(0, answer.length - 1)), undefined);
    assert.equal(parseAnswer(answer.subarray(0, 20)), undefined);
  });

  test('frames a chunked answer, and waits for its last chunk', () => {
    const answer = Buffer.from('HTTP/1.1 400 Bad Request\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\na\r\n0123456789\r\n0\r\n\r\n');
    assert.deepEqual(parseAnswer(answer), { status: 400, text: 'abc0123456789' });
    for (const cut of [60, 70, 80, answer.length - 2, answer.length - 1]) assert.equal(parseAnswer(answer.subarray(0, cut)), undefined, `cut at ${cut}`);
  });

  test('sends requests one after another on one kept-alive connection', { timeout: 10_000 }, async () => {
    let connections = 0;
    const seen: string[] = [];
    const server = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        seen.push(`${request.method} ${request.url} ${request.headers.authorization} ${body}`);
        // A streamed (chunked) answer, then a sized one.
        if (body === 'stream') {
          response.write('part one, ');
          response.end('part two');
        } else response.end(`echo ${body}`);
      });
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    after(() => server.close());
    const client = bareHttpClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'token-1');
    try {
      assert.deepEqual(await client.post('/a', 'stream'), { status: 200, text: 'part one, part two' });
      assert.deepEqual(await client.post('/b', 'é'), { status: 200, text: 'echo é' });
      assert.deepEqual(seen, ['POST /a Bearer token-1 stream', 'POST /b Bearer token-1 é']);
      assert.equal(connections, 1);
    } finally {
      client.close();
    }
  });

  test('rejects an answer it cannot frame, and a connection closed before the answer', { timeout: 10_000 }, async () => {
    // The first request gets a line that is not HTTP; every later one, a hang-up.
    let requests = 0;
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('data', () => (requests++ === 0 ? socket.write('SMTP ready\r\n\r\n') : socket.destroy()));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // A client that never settles must still let the file end (and fail) rather than hang.
    after(() => {
      sockets.forEach((socket) => socket.destroy());
      server.close();
    });
    const client = bareHttpClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, undefined);
    try {
      await assert.rejects(client.post('/a'), /not an HTTP answer/);
      await assert.rejects(client.post('/b'), /closed the connection before answering/);
    } finally {
      client.close();
    }
  });
});
