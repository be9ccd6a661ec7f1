/**
 * What the HTTP benchmark measures: per database, baseline B and Roster on the same three routes
 * (GET by id, the first page of 50, POST), Roster's GET by id once more with authentication
 * stubbed, and baseline A (bare node:http) once per runtime. Every scenario of a route sends the
 * same request stream (credentials included), so the load generator does the same work for each.
 */
import type { RequestSpec } from 'autocannon';
import type { ServerChild } from './runner.js';
import { attributesFor } from './seed.js';

export type DatabaseName = 'sqlite' | 'postgres';
export type Route = 'get' | 'list' | 'post';
/** `stub`: Roster with authentication stubbed (bench/servers.ts). */
export type Side = 'bare' | 'baseline' | 'roster' | 'stub';

export interface Scenario {
  /** Unique within a runtime, e.g. `sqlite roster get`. */
  readonly key: string;
  readonly database: DatabaseName | undefined;
  readonly route: Route;
  readonly side: Side;
  readonly title: string;
  readonly server: ServerChild;
  readonly spec: RequestSpec;
}

/** The servers of one database: baseline B, Roster, and Roster with authentication stubbed. */
export interface DatabaseServers {
  readonly database: DatabaseName;
  readonly baseline: ServerChild;
  readonly roster: ServerChild;
  readonly stub: ServerChild;
}

export interface ServerSet {
  readonly bare: ServerChild;
  readonly databases: DatabaseServers[];
}

export const DATABASE_TITLES: Record<DatabaseName, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL' };
export const ROUTE_TITLES: Record<Route, string> = { get: 'GET /v1/users/{id}', list: 'GET /v1/users?limit=50', post: 'POST /v1/users' };

export const scenarioKey = (database: DatabaseName | undefined, side: Side, route: Route) => `${database ?? 'none'} ${side} ${route}`;

const runTag = Date.now().toString(36);
let posted = 0;

export function scenarios(ids: readonly string[], servers: ServerSet): Scenario[] {
  const randomId = () => ids[Math.floor(Math.random() * ids.length)]!;
  const authorization = servers.databases[0]?.roster.authorization;
  const auth: Record<string, string> = authorization === undefined ? {} : { authorization };
  const specs: Record<Route, (auth: Record<string, string>) => RequestSpec> = {
    get: (headers) => ({
      method: 'GET',
      path: `/v1/users/${ids[0]}`,
      headers,
      setupRequest: (request) => ({ ...request, path: `/v1/users/${randomId()}` }),
    }),
    list: (headers) => ({ method: 'GET', path: '/v1/users?limit=50', headers }),
    post: (headers) => ({
      method: 'POST',
      path: '/v1/users',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{}',
      setupRequest: (request) => {
        const n = ++posted;
        const body = JSON.stringify({ email: `Post.${runTag}.${n}@Example.com`, name: `Bench Post ${n}`, attributes: attributesFor(n) });
        return { ...request, body };
      },
    }),
  };
  const all: Scenario[] = [
    {
      key: scenarioKey(undefined, 'bare', 'get'),
      database: undefined,
      route: 'get',
      side: 'bare',
      title: 'A: bare node:http, fixed body',
      server: servers.bare,
      spec: specs.get(auth),
    },
  ];
  for (const { database, baseline, roster, stub } of servers.databases) {
    // Each database's Roster has its own bootstrap key; B and the stub get the same header.
    const headers: Record<string, string> = roster.authorization === undefined ? {} : { authorization: roster.authorization };
    const db = DATABASE_TITLES[database];
    const add = (side: Side, route: Route, title: string, server: ServerChild) =>
      all.push({ key: scenarioKey(database, side, route), database, route, side, title, server, spec: specs[route](headers) });
    for (const route of ['get', 'list', 'post'] as const)
      add('baseline', route, `${db} B: fastify + driver, ${ROUTE_TITLES[route]}`, baseline);
    for (const route of ['get', 'list', 'post'] as const) add('roster', route, `${db} Roster ${ROUTE_TITLES[route]}`, roster);
    // The stub serves all three routes too, though only its GET by id is compared: a process that
    // served only GETs ran ~10% cheaper per GET than one serving the mix (bench/RESULTS.md,
    // issue 14 third pass), which the key's own cost was then blamed for.
    for (const route of ['get', 'list', 'post'] as const) add('stub', route, `${db} Roster ${ROUTE_TITLES[route]}, auth stubbed`, stub);
  }
  return all;
}

/** One request per server before any load, so a broken server fails fast instead of measuring errors. */
export async function sanityCheck(servers: ServerSet, id: string): Promise<void> {
  const hasId = (body: unknown) => (body as { id?: unknown }).id === id;
  await check(servers.bare, `/v1/users/${id}`, {}, 200, hasId, 'GET');
  for (const { database, baseline, roster, stub } of servers.databases) {
    const auth: Record<string, string> = roster.authorization === undefined ? {} : { authorization: roster.authorization };
    const firstPage = (b: unknown) => (b as { data?: unknown[] }).data?.length === 50;
    const created = (b: unknown) => typeof (b as { id?: unknown }).id === 'string';
    const post = (who: string): RequestInit => ({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `sanity.${who}.${runTag}@example.com`, name: 'Sanity' }),
    });
    await check(baseline, `/v1/users/${id}`, auth, 200, hasId, 'GET');
    await check(baseline, '/v1/users?limit=50', auth, 200, firstPage, 'list');
    await check(baseline, '/v1/users', auth, 201, created, 'POST', post('baseline'));
    await check(
      roster,
      `/v1/users/${id}`,
      auth,
      200,
      (b, h) => hasId(b) && h.get('etag') !== null && h.get('x-request-id') !== null,
      'GET',
    );
    await check(stub, `/v1/users/${id}`, auth, 200, (b, h) => hasId(b) && h.get('etag') !== null, 'GET');
    await check(
      roster,
      '/v1/users?limit=50',
      auth,
      200,
      (b) => firstPage(b) && typeof (b as { next_cursor?: unknown }).next_cursor === 'string',
      'list',
    );
    await check(roster, '/v1/users', auth, 201, created, 'POST', post('roster'));
    // Without the header, the real Roster refuses and the stubbed one serves: proof that the stub
    // is in place, so the two GET figures do measure with and without verification.
    const statusWithout = async (server: ServerChild) =>
      (await fetch(`${server.url}/v1/users/${id}`, { signal: AbortSignal.timeout(5000) })).status;
    const refused = await statusWithout(roster);
    const served = await statusWithout(stub);
    if (refused !== 401 || served !== 200)
      throw new Error(
        `sanity check failed for the ${database} auth stub: without credentials Roster answered ${refused} (want 401), the stub ${served} (want 200)`,
      );
  }
}

async function check(
  server: ServerChild,
  path: string,
  auth: Record<string, string>,
  expectStatus: number,
  test: (body: unknown, headers: Headers) => boolean,
  what: string,
  init: RequestInit = {},
): Promise<void> {
  const response = await fetch(`${server.url}${path}`, {
    ...init,
    headers: { ...auth, ...(init.headers as Record<string, string> | undefined) },
    signal: AbortSignal.timeout(5000),
  });
  const body: unknown = await response.json();
  if (response.status !== expectStatus || !test(body, response.headers)) {
    const hint =
      response.status === 401
        ? ' (Roster wants credentials: the benchmark sends the bootstrap admin key Roster prints on stderr, alone on a line starting "rk_", when it starts on a new database; none was printed)'
        : '';
    throw new Error(
      `sanity check failed for ${server.label} ${what}: HTTP ${response.status} ${JSON.stringify(body).slice(0, 300)}${hint}`,
    );
  }
}
