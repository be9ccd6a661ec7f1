import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ServerProcess, serverForSuite, tempSqlite } from '../helpers/server.js';
import { dialects } from '../helpers/databases.js';

/** promtool ships with Debian's `prometheus` package; .ci/run installs it. */
function promtoolMissing(): string | undefined {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (probe.status === 0) return undefined;
  const message = 'promtool is not installed (apt-get install prometheus): the exposition lint is not run';
  if (process.env.CI === 'true') throw new Error(`${message}; under CI=true this is a failure`);
  process.stderr.write(`\n!!! SKIPPED: ${message}\n\n`);
  return message;
}

/** Parses the text format into series → value (`name{labels}` exactly as exposed). */
function series(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

function value(all: Map<string, number>, name: string, labels: Record<string, string>): number | undefined {
  for (const [key, v] of all) {
    if (!key.startsWith(`${name}{`) && key !== name) continue;
    if (Object.entries(labels).every(([k, want]) => key.includes(`${k}="${want}"`))) return v;
  }
  return undefined;
}

for (const [dialect, open, skip] of await dialects()) {
  describe(`metrics on the admin listener (${dialect})`, { skip }, () => {
    const suite = serverForSuite(open);

    test('real traffic moves the RED, database and runtime series; promtool accepts the exposition', async (t) => {
      const headers = { ...suite.server.auth, 'content-type': 'application/json' };
      const created = await fetch(`${suite.server.url}/v1/users`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ email: 'm@example.com', name: 'M' }),
      });
      assert.equal(created.status, 201);
      const { id } = (await created.json()) as { id: string };
      for (let i = 0; i < 3; i++)
        assert.equal((await fetch(`${suite.server.url}/v1/users/${id}`, { headers: suite.server.auth })).status, 200);
      assert.equal(
        (await fetch(`${suite.server.url}/v1/users/${`${id.slice(0, -1)}${id.endsWith('0') ? '1' : '0'}`}`, { headers: suite.server.auth }))
          .status,
        404,
      );
      assert.equal((await fetch(`${suite.server.url}/v1/users`)).status, 401);

      // Not served to API clients: only the admin listener has it.
      assert.equal((await fetch(`${suite.server.url}/metrics`)).status, 404);
      const scraped = await fetch(`${suite.server.adminUrl}/metrics`);
      assert.equal(scraped.status, 200);
      assert.match(scraped.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await scraped.text();
      const all = series(text);

      const byRoute = { method: 'GET', route: '/v1/users/:id' };
      assert.ok((value(all, 'roster_http_requests_total', { ...byRoute, status_class: '2xx' }) ?? 0) >= 3);
      assert.equal(value(all, 'roster_http_requests_total', { ...byRoute, status_class: '4xx' }), 1);
      assert.equal(value(all, 'roster_http_requests_total', { method: 'GET', route: '/v1/users', status_class: '4xx' }), 1);
      assert.ok((value(all, 'roster_http_request_duration_seconds_count', byRoute) ?? 0) >= 4);
      assert.ok(
        [...all.keys()].every((k) => !k.includes(id)),
        'no raw URL or id in any label',
      );
      assert.ok((value(all, 'roster_db_query_duration_seconds_count', { operation: 'select', outcome: 'ok' }) ?? 0) >= 4);
      assert.ok((value(all, 'roster_db_query_duration_seconds_count', { operation: 'insert', outcome: 'ok' }) ?? 0) >= 1);
      assert.equal(value(all, 'roster_build_info', { version: '0.1.0', node_version: process.version }), 1);
      for (const name of [
        'process_cpu_seconds_total',
        'process_resident_memory_bytes',
        'nodejs_heap_size_used_bytes',
        'nodejs_eventloop_lag_p99_seconds',
        'nodejs_eventloop_utilization_ratio',
        'nodejs_gc_duration_seconds_count',
      ]) {
        assert.ok(
          [...all.keys()].some((k) => k === name || k.startsWith(`${name}{`)),
          `${name} is exposed`,
        );
      }
      const inUse = value(all, 'roster_db_pool_connections_in_use', {});
      if (dialect === 'postgres') assert.equal(typeof inUse, 'number');
      else assert.equal(inUse, undefined, 'SQLite has no pool to report');

      if (promtoolMissing()) return t.skip('promtool missing');
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
    });
  });
}

describe('traces exported over OTLP/HTTP to a collector on loopback', () => {
  let collector: Server;
  const bodies: string[] = [];
  let server: ServerProcess;
  let cleanup: () => void = () => undefined;
  before(async () => {
    collector = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c));
      req.on('end', () => {
        if (req.url === '/v1/traces') bodies.push(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const { port } = collector.address() as AddressInfo;
    const db = tempSqlite();
    cleanup = () => db.cleanup();
    server = await ServerProcess.start({
      databaseUrl: db.url,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    });
  });
  after(async () => {
    await server?.kill();
    cleanup();
    collector?.close();
  });

  test('the request span, continuing the caller’s trace, reaches the collector; the log line names the trace', async () => {
    const traceId = 'c'.repeat(31) + '3';
    const res = await fetch(`${server.url}/v1/users?limit=1`, {
      headers: { ...server.auth, traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    assert.equal(res.status, 200);
    let exported = '';
    for (let waited = 0; waited < 10_000 && !exported.includes('GET /v1/users'); waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
      exported = bodies.join('\n');
    }
    assert.match(exported, /"name":"GET \/v1\/users"/);
    assert.match(exported, /"name":"users\.list"/);
    assert.match(exported, /"name":"select users"/);
    assert.ok(exported.includes(traceId), 'the exported spans carry the incoming trace id');
    assert.match(exported, /"service\.name".*?"roster"/);
    // The request log is written in batches (observability/logger.ts): wait for the line.
    await server.waitForLog((l) => l.msg === 'request' && l.trace_id === traceId, 'the request log line carrying the trace id');
  });
});
