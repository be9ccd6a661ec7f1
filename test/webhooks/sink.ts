// A webhook receiver on loopback for integration tests: records every request and connection,
// and lets each test script its answer (or its failure).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

export type SinkHandler = (request: ReceivedRequest, res: ServerResponse, socket: Socket) => void;

export interface Sink {
  readonly port: number;
  /** `http://127.0.0.1:<port><path>` */
  url(path?: string): string;
  readonly requests: ReceivedRequest[];
  /** TCP connections accepted so far. */
  connections(): number;
  /** The most connections that were open at once. */
  peakConnections(): number;
  close(): Promise<void>;
}

export async function startSink(handler: SinkHandler): Promise<Sink> {
  const requests: ReceivedRequest[] = [];
  let accepted = 0;
  let open = 0;
  let peak = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      requests.push(received);
      handler(received, res, req.socket);
    });
  });
  server.on('connection', (socket: Socket) => {
    accepted++;
    open++;
    peak = Math.max(peak, open);
    socket.on('close', () => open--);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: (path = '/hook') => `http://127.0.0.1:${port}${path}`,
    requests,
    connections: () => accepted,
    peakConnections: () => peak,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
