import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { createServer } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { WebhookHttpClient, type WebhookHttpClientOptions } from '../../src/webhooks/http-client.js';
import { generateSecret, signedHeaders } from '../../src/webhooks/signing.js';
import { type HostResolver } from '../../src/webhooks/ssrf.js';
import { AllowList } from '../../src/kit/allow-list.js';
import { startSink, type Sink, type SinkHandler } from './sink.js';

const LOOPBACK = AllowList.parse('127.0.0.1');
const BODY = JSON.stringify({ type: 'user.created', data: { id: 'u1', email: 'ada@example.com' } });

/** Short timeouts, so every fault resolves in well under a second. */
const FAST: WebhookHttpClientOptions = {
  allowList: LOOPBACK,
  connectTimeoutMs: 500,
  headersTimeoutMs: 300,
  bodyTimeoutMs: 300,
  attemptTimeoutMs: 2_000,
};

async function setup(
  t: TestContext,
  handler: SinkHandler,
  options: WebhookHttpClientOptions = {},
): Promise<{ sink: Sink; client: WebhookHttpClient }> {
  const sink = await startSink(handler);
  const client = new WebhookHttpClient({ ...FAST, ...options });
  t.after(async () => {
    await sink.close();
    await client.close();
  });
  return { sink, client };
}

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`getaddrinfo ${code}`), { code });
}

/** Resolves names from a table; unknown names are NXDOMAIN. */
const HANG = Symbol('never answers');

function resolver(table: Record<string, string | NodeJS.ErrnoException | typeof HANG>): HostResolver {
  return async (hostname) => {
    const answer = table[hostname];
    if (answer === undefined) throw errno('ENOTFOUND');
    if (answer === HANG) return new Promise<LookupAddress[]>(() => {});
    if (answer instanceof Error) throw answer;
    return [{ address: answer, family: 4 }];
  };
}

describe('WebhookHttpClient.deliver', () => {
  test('200: success; the receiver gets exactly the signed bytes, and the official library verifies them', async (t) => {
    const { sink, client } = await setup(t, (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks'));
    const secret = generateSecret();
    const headers = signedHeaders({ secrets: [secret], id: 'evt_01', body: BODY, attemptAt: new Date() });
    const startedAt = performance.now();
    const result = await client.deliver({ url: sink.url('/hook?tenant=1'), headers: { ...headers }, body: BODY });
    const elapsedMs = performance.now() - startedAt;
    assert.equal(result.outcome, 'success');
    assert.equal(result.status, 200);
    assert.equal(result.responseBody, 'thanks');
    assert.equal(result.responseTruncated, false);
    assert.equal(result.error, undefined);
    // The attempt's own clock, within the call's: no fixed bound, which a busy machine would break.
    assert.ok(result.latencyMs >= 0 && result.latencyMs <= elapsedMs + 1, `${result.latencyMs} ms within the call's ${elapsedMs} ms`);
    const received = sink.requests[0]!;
    assert.equal(received.method, 'POST');
    assert.equal(received.path, '/hook?tenant=1');
    assert.equal(received.headers['content-type'], 'application/json');
    assert.match(String(received.headers['user-agent']), /^Roster-Webhooks/);
    assert.equal(received.body.toString(), BODY);
    const verified = new Webhook(secret).verify(received.body, received.headers as Record<string, string>);
    assert.deepEqual(verified, JSON.parse(BODY));
  });

  test('500: retryable, with the status and the response body', async (t) => {
    const { client, sink } = await setup(t, (_req, res) => res.writeHead(500).end('database on fire'));
    const result = await client.deliver({ url: sink.url(), headers: {}, body: BODY });
    assert.equal(result.outcome, 'retryable');
    assert.equal(result.status, 500);
    assert.equal(result.responseBody, 'database on fire');
    assert.equal(result.retryAfterMs, undefined, 'Retry-After only counts on 429 and 503');
  });

  test('3xx: the redirect is not followed; the attempt is a retryable failure naming the target', async (t) => {
    const { client, sink } = await setup(t, (req, res) => {
      if (req.path === '/hook') res.writeHead(307, { location: '/elsewhere' }).end();
      else res.writeHead(200).end();
    });
    const result = await client.deliver({ url: sink.url(), headers: {}, body: BODY });
    assert.equal(result.outcome, 'retryable');
    assert.equal(result.status, 307);
    assert.equal(result.error?.code, 'redirect-not-followed');
    assert.match(result.error?.message ?? '', /\/elsewhere/);
    assert.deepEqual(
      sink.requests.map((r) => r.path),
      ['/hook'],
    );
  });

  test('410: gone (the endpoint is to be disabled)', async (t) => {
    const { client, sink } = await setup(t, (_req, res) => res.writeHead(410).end());
    const result = await client.deliver({ url: sink.url(), headers: {}, body: BODY });
    assert.equal(result.outcome, 'gone');
    assert.equal(result.status, 410);
  });

  test('other 4xx: permanent', async (t) => {
    const { client, sink } = await setup(t, (_req, res) => res.writeHead(400).end('{"error":"bad"}'));
    const result = await client.deliver({ url: sink.url(), headers: {}, body: BODY });
    assert.equal(result.outcome, 'permanent');
    assert.equal(result.responseBody, '{"error":"bad"}');
  });

  test('429 with Retry-After in seconds, 503 with an HTTP-date: retryable with the bounded wait', async (t) => {
    const { client, sink } = await setup(t, (req, res) => {
      if (req.path === '/429') res.writeHead(429, { 'retry-after': '7' }).end();
      else res.writeHead(503, { 'retry-after': new Date(Date.now() + 120_000).toUTCString() }).end();
    });
    const limited = await client.deliver({ url: sink.url('/429'), headers: {}, body: BODY });
    assert.equal(limited.outcome, 'retryable');
    assert.equal(limited.status, 429);
    assert.equal(limited.retryAfterMs, 7_000);
    const unavailable = await client.deliver({ url: sink.url('/503'), headers: {}, body: BODY });
    assert.equal(unavailable.status, 503);
    assert.ok(unavailable.retryAfterMs! > 115_000 && unavailable.retryAfterMs! <= 120_000, String(unavailable.retryAfterMs));
  });

  test('no answer before the headers timeout: retryable headers-timeout, and the worker is freed in time', async (t) => {
    const { client, sink } = await setup(t, () => {});
    const started = Date.now();
    const result = await client.deliver({ url: sink.url(), headers: {}, body: BODY });
    assert.equal(result.outcome, 'retryable');
    assert.equal(result.error?.code, 'headers-timeout');
    assert.equal(result.status, undefined);
    assert.ok(Date.now() - started < 1_500);
  });

  test('headers, then silence: retryable body-timeout with the status seen', async (t) => {
    const { client, sink } = await setup(t, (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
    });
    const result = await client.deliver({ url: sink.url(), headers: {}, body: BODY });
    assert.equal(result.outcome, 'retryable', 'a 2xx counts only when the response arrives');
    assert.equal(result.status, 200);
    assert.equal(result.error?.code, 'body-timeout');
  });

  test('headers of a refusal, then silence: the status still decides (permanent)', async (t) => {
    const { client, sink } = await setup(t, (_req, res) => {
      res.writeHead(404, { 'content-length': '100' });
      res.write('x');
    });
    const result = await client.deliver({ url: sink.url(), headers: {}, body: BODY });
    assert.equal(result.outcome, 'permanent');
    assert.equal(result.status, 404);
    assert.equal(result.error?.code, 'body-timeout');
  });

  test('the connection closed mid-response: retryable connection-reset', async (t) => {
    const { client, sink } = await setup(t, (_req, res, socket) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('only a little', () => socket.destroy());
    });
    const result = await client.deliver({ url: sink.url(), headers: {}, body: BODY });
    assert.equal(result.outcome, 'retryable');
    assert.equal(result.status, 200);
    assert.equal(result.error?.code, 'connection-reset');
  });

  test('the connection closed before any response: retryable connection-reset', async (t) => {
    const { client, sink } = await setup(t, (_req, _res, socket) => socket.destroy());
    const result = await client.deliver({ url: sink.url(), headers: {}, body: BODY });
    assert.equal(result.outcome, 'retryable');
    assert.equal(result.status, undefined);
    assert.equal(result.error?.code, 'connection-reset');
  });

  test('a 10 MB response: only the first 64 KiB are kept, quickly, and the rest is not read', async (t) => {
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let written = 0;
    const { client, sink } = await setup(t, (_req, res) => {
      res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
      const pump = () => {
        while (written < 10 * 1024 * 1024 && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const started = Date.now();
    const result = await client.deliver({ url: sink.url(), headers: {}, body: BODY });
    assert.equal(result.outcome, 'success');
    assert.equal(result.responseTruncated, true);
    assert.equal(Buffer.byteLength(result.responseBody), 64 * 1024);
    assert.ok(Date.now() - started < 1_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(written < 10 * 1024 * 1024, `the sink could write only what the socket buffers took (${written} bytes)`);
  });

  test('a response body cut inside a multi-byte character keeps only whole characters; NUL is replaced', async (t) => {
    const { client, sink } = await setup(t, (_req, res) => res.writeHead(200).end(Buffer.from('\u0000ab€€€', 'utf8')), {
      responseBodyLimitBytes: 6,
    });
    const result = await client.deliver({ url: sink.url(), headers: {}, body: BODY });
    assert.equal(result.responseBody, '\ufffdab€');
    assert.equal(result.responseTruncated, true);
  });

  test('a name that does not resolve (NXDOMAIN): permanent dns-not-found', async (t) => {
    const { client } = await setup(t, () => {}, { resolve: resolver({}) });
    const result = await client.deliver({ url: 'http://nowhere.invalid/hook', headers: {}, body: BODY });
    assert.equal(result.outcome, 'permanent');
    assert.equal(result.error?.code, 'dns-not-found');
  });

  test('a resolver that fails for now (EAI_AGAIN): retryable dns-unavailable', async (t) => {
    const { client } = await setup(t, () => {}, { resolve: resolver({ 'flaky.test': errno('EAI_AGAIN') }) });
    const result = await client.deliver({ url: 'http://flaky.test/hook', headers: {}, body: BODY });
    assert.equal(result.outcome, 'retryable');
    assert.equal(result.error?.code, 'dns-unavailable');
  });

  test('a resolver that hangs: retryable connect-timeout (the connect timeout covers name resolution)', async (t) => {
    const { client } = await setup(t, () => {}, { resolve: resolver({ 'slow.test': HANG }), connectTimeoutMs: 200 });
    const started = Date.now();
    const result = await client.deliver({ url: 'http://slow.test/hook', headers: {}, body: BODY });
    assert.equal(result.outcome, 'retryable');
    assert.equal(result.error?.code, 'connect-timeout');
    assert.ok(Date.now() - started < 1_500);
  });

  test('nothing listening: retryable connect-refused', async (t) => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise((resolve) => closed.close(resolve));
    const { client } = await setup(t, () => {});
    const result = await client.deliver({ url: `http://127.0.0.1:${port}/hook`, headers: {}, body: BODY });
    assert.equal(result.outcome, 'retryable');
    assert.equal(result.error?.code, 'connect-refused');
  });

  test('a loopback target without the allow-list is refused before any connection is made', async (t) => {
    const { sink, client } = await setup(t, (_req, res) => res.writeHead(200).end(), {
      allowList: AllowList.none,
      resolve: resolver({ 'sink.test': '127.0.0.1' }),
    });
    for (const url of [
      sink.url(),
      `http://0x7f.1:${sink.port}/`,
      `http://[::ffff:127.0.0.1]:${sink.port}/`,
      `http://sink.test:${sink.port}/`,
    ]) {
      const result = await client.deliver({ url, headers: {}, body: BODY });
      assert.equal(result.outcome, 'permanent', url);
      assert.equal(result.error?.code, 'target-forbidden', url);
      assert.equal(result.status, undefined);
    }
    const named = await client.deliver({ url: `http://localhost:${sink.port}/`, headers: {}, body: BODY });
    assert.equal(named.error?.code, 'invalid-url');
    assert.equal(sink.connections(), 0);
  });

  test('an allow-listed host name reaches loopback through the guarded lookup', async (t) => {
    const { sink, client } = await setup(t, (_req, res) => res.writeHead(204).end(), {
      allowList: AllowList.parse('sink.test'),
      resolve: resolver({ 'sink.test': '127.0.0.1' }),
    });
    const result = await client.deliver({ url: `http://sink.test:${sink.port}/hook`, headers: {}, body: BODY });
    assert.equal(result.outcome, 'success');
    assert.equal(result.status, 204);
    assert.equal(sink.requests[0]?.headers.host, `sink.test:${sink.port}`);
  });

  test('a URL that is not http(s): permanent invalid-url', async (t) => {
    const { client } = await setup(t, () => {});
    const result = await client.deliver({ url: 'ftp://example.com/', headers: {}, body: BODY });
    assert.equal(result.outcome, 'permanent');
    assert.equal(result.error?.code, 'invalid-url');
  });

  test('the attempt deadline bounds a response that trickles in forever', async (t) => {
    const { client, sink } = await setup(
      t,
      (_req, res) => {
        res.writeHead(200, { 'content-length': '1000000' });
        const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write('.')), 20);
        res.on('close', () => clearInterval(timer));
      },
      { attemptTimeoutMs: 400 },
    );
    const started = Date.now();
    const result = await client.deliver({ url: sink.url(), headers: {}, body: BODY });
    assert.equal(result.outcome, 'retryable');
    assert.equal(result.error?.code, 'deadline-exceeded');
    assert.equal(result.status, 200);
    assert.ok(Date.now() - started < 1_500);
  });

  test("the caller's abort (shutdown) rejects with its reason instead of recording a failure", async (t) => {
    const { client, sink } = await setup(t, () => {}, { headersTimeoutMs: 5_000 });
    const controller = new AbortController();
    const reason = new Error('shutting down');
    setTimeout(() => controller.abort(reason), 50);
    await assert.rejects(client.deliver({ url: sink.url(), headers: {}, body: BODY, signal: controller.signal }), reason);
    await assert.rejects(client.deliver({ url: sink.url(), headers: {}, body: BODY, signal: controller.signal }), reason);
  });

  test('connections to one origin are bounded; extra attempts wait for a free connection', async (t) => {
    const { client, sink } = await setup(t, (_req, res) => setTimeout(() => res.writeHead(200).end(), 50), { connectionsPerOrigin: 2 });
    const results = await Promise.all(Array.from({ length: 8 }, () => client.deliver({ url: sink.url(), headers: {}, body: BODY })));
    assert.ok(results.every((r) => r.outcome === 'success'));
    assert.equal(sink.requests.length, 8);
    assert.ok(sink.peakConnections() <= 2, `peak ${sink.peakConnections()}`);
  });
});
