// End to end: graceful shutdown of the built server. SIGTERM while slow requests are in flight
// lets every one of them finish (201) while new connections are refused, then exits 0; a
// request that never finishes makes the process exit non-zero at the deadline; a second
// signal during a stuck drain exits at once with 130.
//
// "In flight" is made certain, not timed: each request sends `Expect: 100-continue` and only
// counts once the server has answered 100 Continue, which Node does as it hands the request
// to Fastify. Only then is part of the body written and the signal sent.
import { after, afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { openDatabase } from '../../src/db/database.js';
import type { UserJson } from '../helpers/http.js';
import { ServerProcess, sleep, tempSqlite, within } from '../helpers/server.js';

interface SlowResponse {
  readonly status: number;
  readonly body: string;
}

/** A POST whose body is sent in two parts, under the caller's control. */
interface SlowRequest {
  /** Sends the rest of the body. */
  finish(): void;
  /** Resolves with the response; rejects if the connection dies first. */
  readonly response: Promise<SlowResponse>;
  /** True once a response (or an error) has arrived. */
  readonly settled: () => boolean;
  abort(): void;
}

/** Opens a POST /v1/users, waits for 100 Continue, writes the first part of the body. */
async function startSlowPost(server: ServerProcess, body: string, firstPartBytes: number): Promise<SlowRequest> {
  const bytes = Buffer.from(body);
  const request = http.request({
    host: '127.0.0.1',
    port: server.port,
    method: 'POST',
    path: '/v1/users',
    agent: false,
    headers: { ...server.auth, 'content-type': 'application/json', 'content-length': bytes.length, expect: '100-continue' },
  });
  let done = false;
  const response = new Promise<SlowResponse>((resolve, reject) => {
    request.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        done = true;
        resolve({ status: res.statusCode ?? 0, body: text });
      });
      res.on('error', reject);
    });
    request.on('error', (error) => {
      done = true;
      reject(error);
    });
  });
  response.catch(() => undefined); // callers that abort do not await it
  const continued = new Promise<void>((resolve) => request.once('continue', resolve));
  request.flushHeaders();
  await within(15_000, '100 Continue from the server', Promise.race([continued, response.then(() => undefined)]));
  assert.equal(done, false, 'the server answered before the body was complete');
  request.write(bytes.subarray(0, firstPartBytes));
  return {
    finish: () => request.end(bytes.subarray(firstPartBytes)),
    response,
    settled: () => done,
    abort: () => request.destroy(),
  };
}

/** Tries one TCP connection: 'refused', or 'accepted' (closed again at once). */
function tryConnect(port: number): Promise<'refused' | 'accepted'> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('accepted');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') resolve('refused');
      else reject(error);
    });
  });
}

/** Polls until the port refuses connections; rejects if it still accepts after `timeoutMs`. */
async function untilRefused(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await tryConnect(port)) === 'accepted') {
    if (Date.now() > deadline) throw new Error(`port ${port} still accepts connections ${timeoutMs} ms after SIGTERM`);
    await sleep(20);
  }
}

describe('graceful shutdown of the built server', () => {
  const servers: ServerProcess[] = [];
  const requests: SlowRequest[] = [];
  const files: ReturnType<typeof tempSqlite>[] = [];

  async function start(env: Record<string, string> = {}): Promise<{ server: ServerProcess; databaseUrl: string }> {
    const db = tempSqlite();
    files.push(db);
    const server = await ServerProcess.start({ databaseUrl: db.url, env });
    servers.push(server);
    return { server, databaseUrl: db.url };
  }

  afterEach(async () => {
    for (const r of requests.splice(0)) r.abort();
    for (const s of servers.splice(0)) await s.kill();
  });
  after(() => {
    for (const f of files) f.cleanup();
  });

  test('SIGTERM: in-flight slow requests all complete with 201, new connections are refused, exit 0', async () => {
    const { server, databaseUrl } = await start();
    const port = server.port;
    const bodies = Array.from({ length: 4 }, (_, i) => JSON.stringify({ email: `slow-${i}@example.com`, name: `Slow Request ${i}` }));
    for (const body of bodies) requests.push(await startSlowPost(server, body, 10));

    server.signal('SIGTERM');
    await server.waitForLog((l) => l.msg === 'shutting down', 'the "shutting down" log line');
    await untilRefused(port);
    assert.ok(
      requests.every((r) => !r.settled()),
      'no slow request was answered or cut off while the listener closed',
    );

    await sleep(300);
    for (const r of requests) r.finish();
    const responses = await within(20_000, 'the slow requests to complete', Promise.all(requests.map((r) => r.response)));
    for (const res of responses) assert.equal(res.status, 201, res.body);
    assert.deepEqual(
      responses.map((r) => (JSON.parse(r.body) as UserJson).email),
      bodies.map((b) => (JSON.parse(b) as { email: string }).email),
    );

    const exit = await server.waitForExit();
    assert.deepEqual(exit, { code: 0, signal: null }, `stderr: ${server.stderr}\n${server.logText()}`);
    const complete = server.logs.find((l) => l.msg === 'shutdown complete');
    assert.ok(complete, server.logText());
    assert.equal(complete.outcome, 'clean');
    // The log is flushed before the exit (cli/serve.ts), so its last line leaves last.
    assert.equal(server.logs.at(-1)?.msg, 'shutdown complete', server.logText());
    const steps = server.logs.filter((l) => l.msg === 'shutdown step done').map((l) => l.step);
    assert.ok(steps.includes('drain HTTP') && steps.indexOf('drain HTTP') < steps.indexOf('close database'), `steps: ${steps.join(', ')}`);

    // Nothing the server acknowledged was lost.
    const database = openDatabase(databaseUrl);
    try {
      const rows = await database.db.selectFrom('users').select('email').orderBy('email').execute();
      assert.deepEqual(
        rows.map((r) => r.email),
        bodies.map((b) => (JSON.parse(b) as { email: string }).email).sort(),
      );
    } finally {
      await database.close();
    }
  });

  test('a request that never finishes: past ROSTER_SHUTDOWN_TIMEOUT_MS the process exits non-zero', async () => {
    const { server } = await start({ ROSTER_SHUTDOWN_TIMEOUT_MS: '300' });
    requests.push(await startSlowPost(server, JSON.stringify({ email: 'stuck@example.com', name: 'Stuck' }), 5));

    server.signal('SIGTERM');
    const exit = await server.waitForExit();
    assert.equal(exit.signal, null, `killed by a signal instead of exiting: ${JSON.stringify(exit)}`);
    assert.equal(exit.code, 1, `stderr: ${server.stderr}\n${server.logText()}`);
    assert.ok(
      server.logs.some((l) => l.msg === 'shutdown deadline passed; exiting with work still running' && l.timeout_ms === 300),
      server.logText(),
    );
    assert.ok(!server.logs.some((l) => l.msg === 'shutdown complete'), 'a timed-out shutdown does not claim to be complete');
  });

  test('a second SIGTERM during a stuck drain exits at once with 130', async () => {
    const { server } = await start({ ROSTER_SHUTDOWN_TIMEOUT_MS: '600000' });
    requests.push(await startSlowPost(server, JSON.stringify({ email: 'stuck-again@example.com', name: 'Stuck' }), 5));

    server.signal('SIGTERM');
    await server.waitForLog((l) => l.msg === 'shutting down', 'the "shutting down" log line');
    server.signal('SIGTERM');
    const exit = await server.waitForExit();
    assert.deepEqual(exit, { code: 130, signal: null }, `stderr: ${server.stderr}\n${server.logText()}`);
    assert.ok(
      server.logs.some((l) => l.msg === 'second signal: exiting now without finishing the drain'),
      server.logText(),
    );
  });
});
