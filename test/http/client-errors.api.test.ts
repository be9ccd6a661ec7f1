// What Node's HTTP parser refuses before Fastify sees a request — oversized headers, request
// smuggling, bad chunk sizes, characters HTTP does not allow, headers that never finish — is
// answered with a catalogued problem+json over the raw socket, and the connection closed. Raw
// node:net clients against a real listening server: no HTTP client would send these bytes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { dialects } from '../helpers/databases.js';
import { assertProblem, type SeenResponse } from '../helpers/http.js';
import type { ProblemCode } from '../../src/http/problem.js';

interface RawAnswer {
  /** Everything the server wrote before it closed the connection. */
  readonly bytes: Buffer;
  /** Milliseconds from connecting to the connection's close. */
  readonly closedAfterMs: number;
}

/**
 * Connects, sends `request` (all at once, or through `trickle`), and collects what the server
 * writes until it closes the connection; fails if that takes longer than `limitMs`.
 */
function exchange(
  port: number,
  request: string | Buffer,
  options: { limitMs?: number; trickle?: { everyMs: number; bytes: string } } = {},
): Promise<RawAnswer> {
  const { limitMs = 15_000 } = options;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let trickler: NodeJS.Timeout | undefined;
    const limit = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`the server did not close the connection within ${limitMs} ms; it wrote: ${Buffer.concat(chunks).toString('latin1')}`),
      );
    }, limitMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined); // a reset after the answer is still an answer
    socket.on('close', () => {
      clearTimeout(limit);
      clearInterval(trickler);
      resolve({ bytes: Buffer.concat(chunks), closedAfterMs: performance.now() - started });
    });
    socket.on('connect', () => {
      socket.write(request);
      const trickle = options.trickle;
      if (trickle === undefined) return;
      let i = 0;
      trickler = setInterval(() => {
        if (socket.destroyed || !socket.writable) return;
        socket.write(trickle.bytes[i++ % trickle.bytes.length]!);
      }, trickle.everyMs);
    });
  });
}

interface ParsedResponse extends SeenResponse {
  /** Bytes after the first response: a second response means a smuggled request ran. */
  readonly rest: string;
}

/** The first HTTP/1.1 response in `bytes`, its body delimited by its Content-Length. */
function parseResponse(bytes: Buffer): ParsedResponse {
  const text = bytes.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `no complete response head in: ${JSON.stringify(text)}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine!);
  assert.ok(status, `not a status line: ${statusLine}`);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const length = Number(headers.get('content-length'));
  assert.ok(Number.isInteger(length), `no Content-Length: ${text.slice(0, end)}`);
  const bodyStart = Buffer.byteLength(text.slice(0, end + 4), 'latin1');
  const body = bytes.subarray(bodyStart, bodyStart + length);
  assert.equal(body.length, length, 'the body is as long as its Content-Length says');
  return {
    status: Number(status[1]),
    header: (name) => headers.get(name.toLowerCase()),
    body: body.toString('utf8'),
    rest: bytes.subarray(bodyStart + length).toString('latin1'),
  };
}

/** The answer is the problem `code`, alone, and the connection was closed after it. */
function assertClosingProblem(answer: RawAnswer, code: ProblemCode): ParsedResponse {
  const res = parseResponse(answer.bytes);
  assertProblem(res, code);
  assert.equal(res.header('connection'), 'close');
  assert.equal(res.rest, '', 'nothing follows the answer');
  return res;
}

for (const [dialect, open, skip] of await dialects()) {
  describe(`requests the HTTP parser refuses, on ${dialect}`, { skip }, () => {
    let t: TestApp;
    let port = 0;
    before(async () => {
      t = await buildTestApp(open);
      port = Number(new URL(await t.app.listen({ host: '127.0.0.1', port: 0 })).port);
    });
    after(() => t?.close());

    const auth = () => `Authorization: Bearer ${t.auth.adminKey}\r\n`;

    /** A complete, valid, authorised request creating a user: what a smuggler would slip in. */
    const smuggled = (email: string) => {
      const body = JSON.stringify({ email, name: 'Smuggled' });
      return `POST /v1/users HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    };

    async function userExists(email: string): Promise<boolean> {
      const res = await t.app.inject({ method: 'GET', url: `/v1/users?email=${encodeURIComponent(email)}` });
      assert.equal(res.statusCode, 200, res.body);
      return res.json<{ data: unknown[] }>().data.length > 0;
    }

    test('headers over 16 KiB: 431 headers-too-large as problem+json, connection closed', async () => {
      const answer = await exchange(port, `GET /v1/users HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      assertClosingProblem(answer, 'headers-too-large');
    });

    for (const [name, head] of [
      ['Content-Length before Transfer-Encoding', (n: number) => `Content-Length: ${n}\r\nTransfer-Encoding: chunked\r\n`],
      ['Transfer-Encoding before Content-Length', (n: number) => `Transfer-Encoding: chunked\r\nContent-Length: ${n}\r\n`],
    ] as const) {
      test(`smuggling with ${name}: 400 bad-request, and the smuggled request never runs`, async () => {
        const email = `smuggled.${name.length}.${Date.now()}@example.com`;
        const inner = smuggled(email);
        const chunked = `0\r\n\r\n${inner}`;
        const request = `POST /v1/users HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\n${head(chunked.length)}\r\n${chunked}`;
        const answer = await exchange(port, request);
        const res = assertClosingProblem(answer, 'bad-request');
        assert.match(JSON.parse(res.body).detail as string, /Content-Length.*Transfer-Encoding|Transfer-Encoding.*Content-Length/);
        assert.equal(await userExists(email), false, 'the smuggled request ran');
        // Sent on its own, the same request does run: the check above can fail.
        const alone = smuggled(`alone.${email}`).replace('Host: x\r\n', 'Host: x\r\nConnection: close\r\n');
        assert.equal(parseResponse((await exchange(port, alone)).bytes).status, 201);
        assert.equal(await userExists(`alone.${email}`), true);
      });
    }

    test('a chunk size that is not hexadecimal: 400 bad-request, nothing created', async () => {
      const email = `chunky.${Date.now()}@example.com`;
      const body = JSON.stringify({ email, name: 'Chunky' });
      const request =
        `POST /v1/users HTTP/1.1\r\nHost: x\r\n${auth()}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n` +
        `zz\r\n${body}\r\n0\r\n\r\n`;
      assertClosingProblem(await exchange(port, request), 'bad-request');
      assert.equal(await userExists(email), false);
    });

    for (const [name, header] of [
      ['a control character in a header value', 'X-Test: a\u0001b'],
      ['a space in a header name', 'X Test: a'],
      ['a bare LF inside a header value', 'X-Test: a\nb'],
    ] as const) {
      test(`${name}: 400 bad-request as problem+json`, async () => {
        assertClosingProblem(await exchange(port, `GET /v1/users HTTP/1.1\r\nHost: x\r\n${header}\r\n\r\n`), 'bad-request');
      });
    }

    // Under /scim/v2 every error is a SCIM error (RFC 7644 §3.12), these too, whenever the
    // request line says where the request was going; elsewhere, and when it cannot be read, problem+json.
    for (const [name, request, status] of [
      ['headers over 16 KiB', `GET /scim/v2/Users?filter=x HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
      ['a control character in the request target', 'GET /scim/v2/Us\u0001ers HTTP/1.1\r\nHost: x\r\n\r\n', 400],
      ['an HTTP version that is not one', 'GET /scim/v2/Groups HTTP/7.1\r\nHost: x\r\n\r\n', 400],
      ['a space in a header name', 'PATCH /scim/v2/Groups/1 HTTP/1.1\r\nHost: x\r\nX Test: a\r\n\r\n', 400],
      ['an absolute-form target', `GET http://x/scim/v2/Users HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ] as const) {
      test(`under /scim/v2, ${name}: ${status} as a SCIM error, connection closed`, async () => {
        const res = parseResponse((await exchange(port, request)).bytes);
        assert.equal(res.status, status, res.body);
        assert.match(res.header('content-type') ?? '', /^application\/scim\+json/);
        assert.equal(res.header('connection'), 'close');
        assert.equal(res.rest, '');
        const body = JSON.parse(res.body) as Record<string, unknown>;
        assert.deepEqual(body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
        assert.equal(body.status, String(status));
        assert.equal(typeof body.detail, 'string');
        assert.equal(body.scimType, status === 400 ? 'invalidSyntax' : undefined);
        assert.equal(body.type, undefined, 'not problem+json');
      });
    }

    for (const [name, request, code] of [
      ['the same bad target outside /scim/v2', 'GET /v1/us\u0001ers HTTP/1.1\r\nHost: x\r\n\r\n', 'bad-request'],
      ['a path that only starts like it', `GET /scim/v2x HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 'headers-too-large'],
      ['a request line that cannot be read', '\u0000\u0001/scim/v2/Users HTTP/1.1\r\n\r\n', 'bad-request'],
    ] as const) {
      test(`${name}: problem+json`, async () => {
        assertClosingProblem(await exchange(port, request), code);
      });
    }

    test('the server still answers ordinary requests on new connections', async () => {
      const answer = await exchange(port, `GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(parseResponse(answer.bytes).status, 200);
    });
  });
}

describe('ROSTER_HTTP_HEADERS_TIMEOUT_MS is enforced at its value, not at Node’s 30 s check', () => {
  const HEADERS_TIMEOUT_MS = 1_000;
  let t: TestApp;
  let port = 0;
  before(async () => {
    t = await buildTestApp(undefined, {
      serverTimeouts: { headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: 5_000, keepAliveTimeoutMs: 5_000 },
    });
    port = Number(new URL(await t.app.listen({ host: '127.0.0.1', port: 0 })).port);
  });
  after(() => t?.close());

  test('a client trickling one header byte every 200 ms is answered 408 headers-timeout and cut', async (ctx) => {
    // The bound holds on a machine ten times slower: 1 s + the check interval (250 ms) + margin,
    // while Node's default check would cut the client at about 30 s.
    const answer = await exchange(port, 'GET /v1/users HTTP/1.1\r\nHost: x\r\n', {
      limitMs: 15_000,
      trickle: { everyMs: 200, bytes: 'X-Slow-Loris: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n' },
    });
    ctx.diagnostic(`cut after ${Math.round(answer.closedAfterMs)} ms (headers timeout ${HEADERS_TIMEOUT_MS} ms)`);
    assert.ok(answer.closedAfterMs >= HEADERS_TIMEOUT_MS - 50, `cut too early: ${answer.closedAfterMs} ms`);
    assert.ok(answer.closedAfterMs < 15_000);
    // Node answers 408 when the socket can still be written, which it can here.
    assertClosingProblem(answer, 'headers-timeout');
  });

  test('a request whose headers arrive in time is served', async () => {
    const answer = await exchange(port, 'GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(parseResponse(answer.bytes).status, 200);
  });
});
