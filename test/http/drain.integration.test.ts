// DrainingServer (src/http/drain.ts) over real loopback sockets: what close() does to each kind
// of connection. Raw sockets, so the test controls exactly when each byte is sent.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DrainingServer } from '../../src/http/drain.js';
import { pollFor, within } from '../helpers/server.js';

const REQUEST = 'GET /x HTTP/1.1\r\nHost: test\r\n\r\n';

/** A raw client connection that collects what the server sends and how it ended. */
class RawClient {
  readonly socket: net.Socket;
  text = '';
  ended: 'open' | 'closed' | 'reset' = 'open';
  readonly connected: Promise<void>;

  constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => (this.text += chunk));
    this.socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') this.ended = 'reset';
    });
    this.socket.on('close', () => {
      if (this.ended === 'open') this.ended = 'closed';
    });
    this.connected = new Promise((resolve) => this.socket.once('connect', resolve));
  }

  /** The complete responses received so far (bodies are 'ok'). */
  responses(): string[] {
    return this.text.split(/(?<=\r\n\r\nok)/).filter((r) => r.startsWith('HTTP/1.1'));
  }
}

describe('DrainingServer.close(): connections close between requests, never under one', () => {
  const servers: DrainingServer[] = [];
  const clients: RawClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.socket.destroy();
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      if (s.listening) await new Promise((resolve) => s.close(resolve));
    }
  });

  /** A server answering 'ok' (after `hold` resolves, for requests to /slow). */
  async function start(
    hold: Promise<void> = Promise.resolve(),
    headersTimeout = 5000,
  ): Promise<{ server: DrainingServer; port: number; received: () => number }> {
    let received = 0;
    const server = new DrainingServer({ headersTimeout, keepAliveTimeout: 60_000 }, (req: IncomingMessage, res: ServerResponse) => {
      received++;
      void (req.url === '/slow' ? hold : Promise.resolve()).then(() => {
        res.setHeader('content-length', 2);
        res.end('ok');
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, port: (server.address() as AddressInfo).port, received: () => received };
  }

  function connect(port: number): RawClient {
    const client = new RawClient(port);
    clients.push(client);
    return client;
  }

  const closed = (server: DrainingServer) => new Promise<void>((resolve) => server.close(() => resolve()));

  test('a request already in the socket buffer when close() is called is answered, with Connection: close', async () => {
    const { server, port } = await start();
    const client = connect(port);
    await client.connected;
    client.socket.write(REQUEST);
    await pollFor('the first response', () => client.responses().length === 1);
    assert.match(client.responses()[0]!, /connection: keep-alive/i);

    // The next request is written, and close() is called before this process has polled for
    // I/O: the server has not read a byte of it. Node's own close() destroys the connection
    // as idle here, and the client sees a reset.
    await new Promise<void>((resolve) => client.socket.write(REQUEST, () => resolve()));
    const done = closed(server);
    await within(
      5000,
      'the second response',
      pollFor('the second response', () => client.responses().length === 2),
    );
    assert.match(client.responses()[1]!, /connection: close/i);
    await within(5000, 'the server to close', done);
    await pollFor('the client to see the end', () => client.ended !== 'open');
    assert.equal(client.ended, 'closed');
  });

  test('a new connection whose request comes after close() is answered, and close() completes after it', async () => {
    const { server, port } = await start();
    const client = connect(port);
    await client.connected;
    await pollFor('the server to accept the connection', () => new Promise<boolean>((r) => server.getConnections((_, n) => r(n === 1))));
    let serverClosed = false;
    const done = closed(server).then(() => (serverClosed = true));
    // The listener refuses new connections once closed...
    await pollFor('the listener to close', () => !server.listening);
    // ...but the accepted connection is still open, waiting for its first request.
    assert.equal(serverClosed, false);
    client.socket.write(REQUEST);
    await within(
      5000,
      'the response',
      pollFor('the response', () => client.responses().length === 1),
    );
    assert.match(client.responses()[0]!, /connection: close/i);
    await within(5000, 'the server to close', done);
    assert.equal(client.ended === 'reset', false);
  });

  test('an idle keep-alive connection is closed at once (a FIN, not a reset)', async () => {
    const { server, port } = await start();
    const client = connect(port);
    await client.connected;
    client.socket.write(REQUEST);
    await pollFor('the response', () => client.responses().length === 1);
    await within(5000, 'the server to close', closed(server));
    await pollFor('the client to see the end', () => client.ended !== 'open');
    assert.equal(client.ended, 'closed');
  });

  test('a connection that sends nothing is closed after headersTimeout', async () => {
    const { server, port } = await start(Promise.resolve(), 300);
    const client = connect(port);
    await client.connected;
    await pollFor('the server to accept the connection', () => new Promise<boolean>((r) => server.getConnections((_, n) => r(n === 1))));
    await within(5000, 'the server to close', closed(server));
    await pollFor('the client to see the end', () => client.ended !== 'open');
  });

  test('limitRequestWait(): a silent connection is closed within the shutdown budget, not after headersTimeout', async () => {
    // headersTimeout far beyond any test timeout: only the limit can end this close().
    const { server, port } = await start(Promise.resolve(), 4 * 60_000);
    const client = connect(port);
    await client.connected;
    await pollFor('the server to accept the connection', () => new Promise<boolean>((r) => server.getConnections((_, n) => r(n === 1))));
    server.limitRequestWait(200);
    await within(30_000, 'the server to close', closed(server));
    await pollFor('the client to see the end', () => client.ended !== 'open');
  });

  test('stopKeepAlive(): a request in flight is answered with Connection: close, and the connection then closes', async () => {
    let release!: () => void;
    const { server, port, received } = await start(new Promise<void>((resolve) => (release = resolve)));
    const client = connect(port);
    await client.connected;
    client.socket.write(REQUEST.replace('/x', '/slow'));
    await pollFor('the request to be in flight', () => received() === 1);
    server.stopKeepAlive();
    release();
    await pollFor('the response', () => client.responses().length === 1);
    assert.match(client.responses()[0]!, /connection: close/i);
    await pollFor('the client to see the end', () => client.ended !== 'open');
    assert.equal(client.ended, 'closed');
    assert.ok(server.listening, 'the listener stays open: only keep-alive stops');
  });
});
