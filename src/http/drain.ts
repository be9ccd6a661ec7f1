import { Server, type IncomingMessage, type RequestListener, type ServerOptions, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface Connection {
  readonly socket: Socket;
  /** Responses to requests received on it that have not finished (more than one if pipelined). */
  readonly responses: Set<ServerResponse>;
  /** Responses it has carried to the end. */
  served: number;
  /** `socket.bytesRead` when its last response finished: more since then means the next request is arriving. */
  bytesReadWhenIdle: number;
  /** Closes it if no request has started by then (see #closeWhenIdle). */
  timer: NodeJS.Timeout | undefined;
}

/**
 * A node:http server that drains without resetting requests. Node's own `close()` (Node 20)
 * destroys at once every keep-alive connection whose parser has not begun its next request:
 * that includes connections whose next request is already in the socket buffer but not yet
 * read (a lagging event loop reads late), and those whose client is writing one right now.
 * Each of those requests is reset: the client cannot tell whether a POST was applied. (It also
 * stops checking the headers timeout, so a new connection that never sends a request holds
 * the close forever.) Here:
 *
 * - `stopKeepAlive()` (called as the drain delay begins) makes every response, including those
 *   of requests already in flight, say `Connection: close`: a keep-alive client finishes its
 *   request and opens a new connection, which its load balancer sends elsewhere. By the time the
 *   listener closes, every connection that carried a request during the delay is already gone,
 *   closed cleanly by Node after a complete response.
 * - `close()` lets the event loop turn once before it closes the listener, so connections the
 *   kernel has queued are accepted (and answered) rather than reset with the listening socket,
 *   and bytes already in socket buffers are read.
 * - Each remaining connection is closed only between requests: a keep-alive connection that
 *   has carried a response and has received nothing since is closed at once; one that is
 *   receiving a request, or has not sent its first one yet, is left to send it (it is answered
 *   with `Connection: close`), for at most `headersTimeout` — Node's own limit on sending a
 *   request head — before it is closed.
 * - Requests in flight finish, their connections close after their responses, and the server
 *   emits 'close' (the callback of `close()`) when the last connection is gone.
 *
 * One race is left, and TCP leaves no way around it: a client that writes on a connection that
 * was idle all through the drain delay, at the very moment it is closed, is reset before the
 * request is read (so it was not applied). And a connection the kernel completes between that
 * turn's poll and the listener's close is reset by the kernel with the listening socket, before
 * the process has seen it: after the drain delay a load balancer sends none, but clients that
 * connect directly and keep connecting can meet it (the slower the event loop, the likelier).
 */
export class DrainingServer extends Server {
  readonly #connections = new Map<Socket, Connection>();
  #requestWaitMs: number;
  #keepAlive = true;
  #closing = false;

  constructor(options: ServerOptions, listener: RequestListener) {
    super(options, listener);
    this.#requestWaitMs = options.headersTimeout ?? 60_000;
    this.on('connection', (socket: Socket) => {
      const connection: Connection = { socket, responses: new Set(), served: 0, bytesReadWhenIdle: 0, timer: undefined };
      this.#connections.set(socket, connection);
      socket.once('close', () => {
        clearTimeout(connection.timer);
        this.#connections.delete(socket);
      });
      if (this.#closing) this.#closeWhenIdle(connection);
    });
    // Before the app's listener, so the header is in place whatever the app does next.
    this.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
      if (!this.#keepAlive) response.setHeader('connection', 'close');
      const connection = this.#connections.get(request.socket);
      if (connection === undefined) return;
      connection.responses.add(response);
      clearTimeout(connection.timer);
      connection.timer = undefined;
      // on(), not once(): a response emits 'close' once, and once() wraps the listener anew per request.
      response.on('close', () => {
        connection.responses.delete(response);
        if (connection.responses.size > 0) return;
        connection.served++;
        connection.bytesReadWhenIdle = connection.socket.bytesRead;
        if (this.#closing) this.#closeWhenIdle(connection);
      });
    });
  }

  /**
   * How long close() leaves a connection to send its first (or next) request: Node's
   * headersTimeout unless the shutdown budget is shorter, so that a connection that never sends
   * anything cannot hold the drain past the deadline.
   */
  limitRequestWait(ms: number): void {
    this.#requestWaitMs = Math.max(0, Math.min(this.#requestWaitMs, ms));
  }

  /** From now on every response, those in flight included, closes its connection. */
  stopKeepAlive(): void {
    this.#keepAlive = false;
    for (const connection of this.#connections.values()) {
      for (const response of connection.responses) if (!response.headersSent) response.setHeader('connection', 'close');
    }
  }

  /** Stops accepting connections and closes each open one between requests; `callback` runs when the last is gone. */
  override close(callback?: (error?: Error) => void): this {
    this.stopKeepAlive();
    this.#closing = true;
    // One turn of the event loop first: its poll for I/O accepts the connections the kernel has
    // queued (closing the listening socket would reset them) and reads what has arrived. Node's
    // close() then runs closeIdleConnections() below and closes the listener.
    setImmediate(() => super.close(callback));
    return this;
  }

  /**
   * Called by Node's close() and by Fastify's `forceCloseConnections: 'idle'`: closes idle
   * connections now and the others as they become idle, after a turn of the event loop so that
   * bytes already received are read first.
   */
  override closeIdleConnections(): void {
    this.#closing = true;
    setImmediate(() => {
      for (const connection of this.#connections.values()) this.#closeWhenIdle(connection);
    });
  }

  #closeWhenIdle(connection: Connection): void {
    const { socket } = connection;
    if (connection.responses.size > 0 || socket.destroyed || socket.writableEnded) return;
    if (connection.served > 0 && socket.bytesRead === connection.bytesReadWhenIdle) {
      socket.destroy();
      return;
    }
    // Its first request, or its next one, is on its way.
    connection.timer ??= setTimeout(() => {
      if (connection.responses.size === 0) socket.destroy();
    }, this.#requestWaitMs).unref();
  }
}

/** The DrainingServer under a Fastify app (built by tracingServerFactory). */
export function drainingServer(server: Server): DrainingServer {
  if (!(server instanceof DrainingServer)) throw new TypeError('the app does not run on a DrainingServer (see http/tracing.ts)');
  return server;
}

/** `stopKeepAlive()` of the server under a Fastify app. */
export function stopKeepAlive(server: Server): void {
  drainingServer(server).stopKeepAlive();
}
