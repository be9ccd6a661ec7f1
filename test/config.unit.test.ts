import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CONFIG_KEYS,
  CONFIG_SECTIONS,
  ConfigError,
  configHelp,
  describeConfig,
  editDistance,
  loadConfig,
  unknownVariables,
  maskSecret,
  type Config,
} from '../src/config.js';

test('defaults give a working embedded setup', () => {
  const config = loadConfig({});
  assert.equal(config.database.url, './data/roster.db');
  assert.equal(config.http.port, 8080);
  assert.equal(config.http.host, '127.0.0.1');
  assert.equal(config.http.bodyLimitBytes, 65536);
  assert.equal(config.database.migrateOnStart, true);
});

for (const [key, value, reason] of [
  ['PORT', 'abc', /PORT="abc" must be a whole number/],
  ['PORT', '70000', /PORT="70000" must be from 0 to 65535/],
  ['LOG_LEVEL', 'loud', /LOG_LEVEL="loud" must be one of/],
  ['ROSTER_MIGRATE_ON_START', 'maybe', /must be true or false/],
  ['ROSTER_DATABASE_URL', 'postgres://%%%', /ROSTER_DATABASE_URL=\(secret\) is not a valid postgres/],
  ['ROSTER_SHUTDOWN_TIMEOUT_MS', '-1', /ROSTER_SHUTDOWN_TIMEOUT_MS/],
  ['ROSTER_RATE_LIMIT_PER_MINUTE', '0', /ROSTER_RATE_LIMIT_PER_MINUTE="0" must be from 1/],
  ['ROSTER_REDIS_URL', 'http://cache:6379', /ROSTER_REDIS_URL=\(secret\) must be a redis/],
  ['ROSTER_TRUST_PROXY', 'yes please', /ROSTER_TRUST_PROXY="yes please" must be true, false, a hop count/],
  ['ROSTER_TRUST_PROXY', '10.0.0.0/33', /ROSTER_TRUST_PROXY/],
  ['ROSTER_CORS_ORIGINS', 'https://app.example.com/', /ROSTER_CORS_ORIGINS=.* must be comma-separated origins/],
  ['ROSTER_CORS_ORIGINS', '*', /ROSTER_CORS_ORIGINS/],
] as const) {
  test(`${key}=${value} is refused with a message naming the key`, () => {
    assert.throws(
      () => loadConfig({ [key]: value }),
      (error: unknown) => error instanceof ConfigError && reason.test(error.message),
    );
  });
}

test('the drain delay counts inside the shutdown timeout: a delay that leaves no room for the drain is refused', () => {
  const config = loadConfig({});
  assert.equal(config.http.shutdownDrainDelayMs, 5000);
  assert.equal(config.http.shutdownTimeoutMs, 15000);
  assert.equal(loadConfig({ ROSTER_SHUTDOWN_DRAIN_DELAY_MS: '0', ROSTER_SHUTDOWN_TIMEOUT_MS: '0' }).http.shutdownDrainDelayMs, 0);
  assert.equal(loadConfig({ ROSTER_SHUTDOWN_DRAIN_DELAY_MS: '100', ROSTER_SHUTDOWN_TIMEOUT_MS: '300' }).http.shutdownDrainDelayMs, 100);
  for (const [delay, timeout] of [
    ['15000', undefined],
    ['3000', '3000'],
    ['5000', '2000'],
  ] as const) {
    assert.throws(
      () => loadConfig({ ROSTER_SHUTDOWN_DRAIN_DELAY_MS: delay, ...(timeout ? { ROSTER_SHUTDOWN_TIMEOUT_MS: timeout } : {}) }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.startsWith(
          `ROSTER_SHUTDOWN_DRAIN_DELAY_MS=${delay} must be less than ROSTER_SHUTDOWN_TIMEOUT_MS=${timeout ?? 15000}`,
        ),
    );
  }
});

test('console session expiry: 30 minutes idle and 12 hours by default, bounded, the idle time within the maximum age', () => {
  assert.deepEqual([loadConfig({}).auth.consoleSessionIdleMinutes, loadConfig({}).auth.consoleSessionMaxHours], [30, 12]);
  const set = loadConfig({ ROSTER_CONSOLE_SESSION_IDLE_MINUTES: '60', ROSTER_CONSOLE_SESSION_MAX_HOURS: '1' }).auth;
  assert.deepEqual([set.consoleSessionIdleMinutes, set.consoleSessionMaxHours], [60, 1]);
  for (const [env, start] of [
    [{ ROSTER_CONSOLE_SESSION_IDLE_MINUTES: '0' }, 'ROSTER_CONSOLE_SESSION_IDLE_MINUTES="0"'],
    [{ ROSTER_CONSOLE_SESSION_IDLE_MINUTES: '1441' }, 'ROSTER_CONSOLE_SESSION_IDLE_MINUTES="1441"'],
    [{ ROSTER_CONSOLE_SESSION_MAX_HOURS: '1.5' }, 'ROSTER_CONSOLE_SESSION_MAX_HOURS="1.5"'],
    [{ ROSTER_CONSOLE_SESSION_MAX_HOURS: '169' }, 'ROSTER_CONSOLE_SESSION_MAX_HOURS="169"'],
    [
      { ROSTER_CONSOLE_SESSION_IDLE_MINUTES: '61', ROSTER_CONSOLE_SESSION_MAX_HOURS: '1' },
      'ROSTER_CONSOLE_SESSION_IDLE_MINUTES=61 must not exceed ROSTER_CONSOLE_SESSION_MAX_HOURS=1',
    ],
  ] as const) {
    assert.throws(
      () => loadConfig(env),
      (error: unknown) => error instanceof ConfigError && error.message.startsWith(start),
      JSON.stringify(env),
    );
  }
});

test('secrets can come from a *_FILE and are masked when described', () => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-config-'));
  const file = join(dir, 'db-url');
  writeFileSync(file, 'postgres://roster:hunter2@db.internal:5432/roster\n');
  const config = loadConfig({ ROSTER_DATABASE_URL_FILE: file });
  assert.equal(config.database.url, 'postgres://roster:hunter2@db.internal:5432/roster');
  const shown = JSON.stringify(describeConfig(config));
  assert.doesNotMatch(shown, /hunter2/);
  assert.match(shown, /roster:\*\*\*\*\*@db.internal/);
});

test('an unreadable *_FILE is a config error naming the variable', () => {
  assert.throws(() => loadConfig({ ROSTER_DATABASE_URL_FILE: '/nonexistent/x' }), /ROSTER_DATABASE_URL_FILE/);
});

test('maskSecret leaves plain paths alone', () => {
  assert.equal(maskSecret('./data/roster.db'), './data/roster.db');
});

test('help lists every key with its default', () => {
  const help = configHelp();
  for (const key of ['ROSTER_DATABASE_URL', 'PORT', 'HOST', 'LOG_LEVEL', 'ROSTER_SHUTDOWN_TIMEOUT_MS']) assert.match(help, new RegExp(key));
});

test('every field of Config is read from the environment (a field without a key entry fails here)', () => {
  // Listing the fields is enforced by the type: adding one to a section breaks compilation until it is added here.
  const fields: { [S in keyof Config]: Record<Exclude<keyof Config[S], 'jwt'>, true> } = {
    http: {
      host: true,
      port: true,
      bodyLimitBytes: true,
      requestTimeoutMs: true,
      headersTimeoutMs: true,
      wholeRequestTimeoutMs: true,
      keepAliveTimeoutMs: true,
      shedEventLoopDelayMs: true,
      shedHeapUsedMb: true,
      shedEventLoopUtilization: true,
      rateLimitPerMinute: true,
      rateLimitAnonPerMinute: true,
      redisUrl: true,
      trustProxy: true,
      corsOrigins: true,
      readyTimeoutMs: true,
      shutdownTimeoutMs: true,
      shutdownDrainDelayMs: true,
    },
    database: { url: true, poolSize: true, sqliteBusyTimeoutMs: true, migrateOnStart: true },
    auth: { bootstrapKey: true, consoleSessionIdleMinutes: true, consoleSessionMaxHours: true, cacheTtlMs: true },
    users: { idempotencyTtlHours: true },
    events: { retentionDays: true },
    webhooks: { allowedHosts: true, secretGraceHours: true, workers: true, pollIntervalMs: true, leaseMs: true },
    imports: { maxBytes: true, dir: true, concurrency: true, leaseMs: true, uploadTimeoutMs: true, uploadIdleMs: true, sqliteWorker: true },
    observability: { logLevel: true, logFormat: true, adminHost: true, adminPort: true, tracing: true },
  };
  // Optional keys are unset by default, so they are given here.
  const config = loadConfig({ ROSTER_REDIS_URL: 'redis://127.0.0.1:6379' });
  for (const [section, sectionFields] of Object.entries(fields)) {
    for (const field of Object.keys(sectionFields)) {
      const value = (config[section as keyof Config] as unknown as Record<string, unknown>)[field];
      assert.notEqual(value, undefined, `${section}.${field}`);
    }
  }
});

test('describeConfig lists every set variable under its section, secrets masked', () => {
  const config = loadConfig({ ROSTER_DATABASE_URL: 'postgres://roster:hunter2@db.internal:5432/roster', PORT: '9000' });
  const shown = describeConfig(config);
  assert.deepEqual(Object.keys(shown), [...CONFIG_SECTIONS]);
  assert.equal(shown.http.PORT, 9000);
  assert.equal(shown.database.ROSTER_DATABASE_URL, 'postgres://roster:*****@db.internal:5432/roster');
  assert.equal(shown.observability.OTEL_SERVICE_NAME, 'roster');
  assert.equal(shown.observability.OTEL_SDK_DISABLED, false);
  // Every key with a value is shown, in its own section.
  for (const spec of CONFIG_KEYS) if (spec.default) assert.ok(spec.env in shown[spec.section], `${spec.section}.${spec.env}`);
  assert.doesNotMatch(JSON.stringify(shown), /hunter2/);
});

test('help lists the variables by section, each under its own', () => {
  const help = configHelp();
  const headings = CONFIG_SECTIONS.map((section) => help.indexOf(`  ${section}:\n`));
  assert.ok(
    headings.every((at, i) => at >= 0 && (i === 0 || at > headings[i - 1]!)),
    'every section, in order',
  );
  for (const spec of CONFIG_KEYS) {
    const at = help.indexOf(`    ${spec.env} `);
    const section = CONFIG_SECTIONS.indexOf(spec.section);
    assert.ok(at > headings[section]!, `${spec.env} after its section heading`);
    if (section + 1 < CONFIG_SECTIONS.length) assert.ok(at < headings[section + 1]!, `${spec.env} before the next section`);
  }
});

test('observability: admin port, deadlines, shedding thresholds and tracing switches', () => {
  const defaults = loadConfig({});
  assert.equal(defaults.observability.adminHost, '127.0.0.1');
  assert.equal(defaults.observability.adminPort, 9464);
  assert.equal(loadConfig({ ROSTER_ADMIN_PORT: 'off' }).observability.adminPort, undefined);
  assert.equal(defaults.http.requestTimeoutMs, 10_000);
  assert.equal(defaults.http.shedEventLoopDelayMs, 200);
  assert.equal(defaults.http.shedEventLoopUtilization, 0);
  assert.equal(loadConfig({ ROSTER_SHED_EVENT_LOOP_UTILIZATION: '0.98' }).http.shedEventLoopUtilization, 0.98);
  assert.throws(
    () => loadConfig({ ROSTER_SHED_EVENT_LOOP_UTILIZATION: '1.5' }),
    /ROSTER_SHED_EVENT_LOOP_UTILIZATION="1.5" must be a fraction/,
  );
  assert.throws(() => loadConfig({ ROSTER_REQUEST_TIMEOUT_MS: '5' }), /ROSTER_REQUEST_TIMEOUT_MS="5" must be from 100/);
  // Tracing runs only with an endpoint (observability/tracing.ts); the sampler defaults to the SDK's.
  assert.deepEqual(defaults.observability.tracing, {
    enabled: true,
    exportEndpoint: undefined,
    serviceName: 'roster',
    sampler: { name: 'parentbased_always_on', ratio: 1 },
  });
  assert.deepEqual(
    loadConfig({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }).observability.tracing.sampler,
    {
      name: 'parentbased_traceidratio',
      ratio: 0.25,
    },
  );
  assert.equal(loadConfig({ OTEL_TRACES_SAMPLER_ARG: '1.0' }).observability.tracing.sampler.ratio, 1);
  assert.throws(() => loadConfig({ OTEL_TRACES_SAMPLER: 'sometimes' }), /OTEL_TRACES_SAMPLER="sometimes" must be one of always_on, /);
  assert.throws(() => loadConfig({ OTEL_TRACES_SAMPLER_ARG: '1.5' }), /OTEL_TRACES_SAMPLER_ARG="1.5" must be a probability/);
  assert.throws(() => loadConfig({ OTEL_TRACES_SAMPLER_ARG: '-0.1' }), /OTEL_TRACES_SAMPLER_ARG/);
  assert.equal(loadConfig({ OTEL_SDK_DISABLED: 'true' }).observability.tracing.enabled, false);
  assert.equal(
    loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).observability.tracing.exportEndpoint,
    'http://collector:4318',
  );
  const both = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://b:4318/v1/traces' };
  assert.equal(loadConfig(both).observability.tracing.exportEndpoint, 'http://b:4318/v1/traces');
  assert.throws(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), /OTEL_EXPORTER_OTLP_ENDPOINT/);
});

test('abuse protection: limits, Redis URL (a masked secret), trusted proxies, CORS origins', () => {
  const defaults = loadConfig({});
  assert.equal(defaults.http.rateLimitPerMinute, 1200);
  assert.equal(defaults.http.rateLimitAnonPerMinute, 60);
  assert.equal(defaults.http.redisUrl, undefined);
  assert.equal(defaults.http.trustProxy, false);
  assert.deepEqual(defaults.http.corsOrigins, []);
  assert.equal(loadConfig({ ROSTER_TRUST_PROXY: 'true' }).http.trustProxy, true);
  assert.equal(loadConfig({ ROSTER_TRUST_PROXY: '2' }).http.trustProxy, 2);
  assert.deepEqual(loadConfig({ ROSTER_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1' }).http.trustProxy, ['10.0.0.0/8', '127.0.0.1', '::1']);
  const cors = loadConfig({ ROSTER_CORS_ORIGINS: 'https://a.example.com, http://localhost:3000' });
  assert.deepEqual(cors.http.corsOrigins, ['https://a.example.com', 'http://localhost:3000']);
  assert.equal(describeConfig(cors).http.ROSTER_CORS_ORIGINS, 'https://a.example.com,http://localhost:3000');

  const dir = mkdtempSync(join(tmpdir(), 'roster-config-'));
  const file = join(dir, 'redis-url');
  writeFileSync(file, 'redis://:s3cret-pass@cache.internal:6379/0\n');
  const withRedis = loadConfig({ ROSTER_REDIS_URL_FILE: file });
  assert.equal(withRedis.http.redisUrl, 'redis://:s3cret-pass@cache.internal:6379/0');
  const shown = JSON.stringify(describeConfig(withRedis));
  assert.doesNotMatch(shown, /s3cret-pass/);
  assert.match(shown, /cache\.internal/);
  assert.match(configHelp(), /ROSTER_REDIS_URL .*secret, or from ROSTER_REDIS_URL_FILE/);
});

test('JWT settings come as a set of three', () => {
  assert.equal(loadConfig({}).auth.jwt, undefined);
  const jwt = {
    ROSTER_JWT_JWKS_URL: 'https://issuer.example/jwks.json',
    ROSTER_JWT_ISSUER: 'https://issuer.example/',
    ROSTER_JWT_AUDIENCE: 'roster',
  };
  assert.deepEqual(loadConfig(jwt).auth.jwt, { jwksUrl: jwt.ROSTER_JWT_JWKS_URL, issuer: jwt.ROSTER_JWT_ISSUER, audience: 'roster' });
  assert.throws(() => loadConfig({ ROSTER_JWT_ISSUER: 'x' }), /must be set together/);
  assert.throws(() => loadConfig({ ...jwt, ROSTER_JWT_JWKS_URL: 'ftp://x' }), /ROSTER_JWT_JWKS_URL/);
});

test('webhooks: allow-list parsed at boot, grace, workers and poll interval', () => {
  const defaults = loadConfig({});
  assert.deepEqual(defaults.webhooks.allowedHosts.entries, []);
  assert.equal(defaults.webhooks.secretGraceHours, 24);
  assert.equal(defaults.webhooks.workers, 16);
  assert.equal(defaults.webhooks.pollIntervalMs, 50);
  assert.equal(defaults.webhooks.leaseMs, 60_000);
  assert.throws(() => loadConfig({ ROSTER_WEBHOOK_LEASE_MS: '500' }), /ROSTER_WEBHOOK_LEASE_MS="500" must be from 2000/);
  const dev = loadConfig({ ROSTER_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1/32, sink.test' });
  assert.equal(dev.webhooks.allowedHosts.allowsAddress('127.0.0.1'), true);
  assert.equal(dev.webhooks.allowedHosts.allowsHost('sink.test'), true);
  assert.equal(describeConfig(dev).webhooks.ROSTER_WEBHOOK_ALLOWED_HOSTS, '127.0.0.1/32,sink.test');
  assert.throws(() => loadConfig({ ROSTER_WEBHOOK_ALLOWED_HOSTS: '10.0.0.0/99' }), /ROSTER_WEBHOOK_ALLOWED_HOSTS="10.0.0.0\/99"/);
  assert.throws(() => loadConfig({ ROSTER_WEBHOOK_WORKERS: '-1' }), /ROSTER_WEBHOOK_WORKERS/);
});

test('imports: upload cap, spool directory and concurrency', () => {
  const defaults = loadConfig({});
  assert.equal(defaults.imports.maxBytes, 1024 ** 3);
  assert.equal(defaults.imports.dir, './data/imports');
  assert.equal(defaults.imports.concurrency, 1);
  assert.equal(loadConfig({ ROSTER_IMPORT_MAX_BYTES: '2048', ROSTER_IMPORT_CONCURRENCY: '3' }).imports.maxBytes, 2048);
  assert.throws(() => loadConfig({ ROSTER_IMPORT_CONCURRENCY: '0' }), /ROSTER_IMPORT_CONCURRENCY/);
  assert.throws(() => loadConfig({ ROSTER_IMPORT_MAX_BYTES: '12' }), /ROSTER_IMPORT_MAX_BYTES/);
});

test('PostgreSQL: the pool must leave a connection beside the running imports (their events are numbered on it)', () => {
  const pg = { ROSTER_DATABASE_URL: 'postgres://roster@db.internal:5432/roster' };
  const tooSmall = (env: NodeJS.ProcessEnv, least: number) =>
    assert.throws(
      () => loadConfig({ ...pg, ...env }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.includes(`ROSTER_DB_POOL_SIZE=${env.ROSTER_DB_POOL_SIZE}`) &&
        error.message.includes(`at least ${least}`),
    );
  tooSmall({ ROSTER_DB_POOL_SIZE: '1' }, 2);
  tooSmall({ ROSTER_DB_POOL_SIZE: '3', ROSTER_IMPORT_CONCURRENCY: '3' }, 4);
  assert.equal(loadConfig({ ...pg, ROSTER_DB_POOL_SIZE: '2' }).database.poolSize, 2);
  assert.equal(loadConfig({ ...pg, ROSTER_DB_POOL_SIZE: '4', ROSTER_IMPORT_CONCURRENCY: '3' }).database.poolSize, 4);
  // SQLite has no pool: the size is not used, so it is not checked against the imports.
  assert.equal(loadConfig({ ROSTER_DB_POOL_SIZE: '1', ROSTER_IMPORT_CONCURRENCY: '8' }).database.poolSize, 1);
});

test('imports: lease length and upload timeouts, validated like every key', () => {
  const defaults = loadConfig({});
  assert.equal(defaults.imports.leaseMs, 30_000);
  assert.equal(defaults.imports.uploadTimeoutMs, 15 * 60_000);
  assert.equal(defaults.imports.uploadIdleMs, 30_000);
  const set = loadConfig({ ROSTER_IMPORT_LEASE_MS: '5000', ROSTER_IMPORT_UPLOAD_TIMEOUT_MS: '60000', ROSTER_IMPORT_UPLOAD_IDLE_MS: '300' });
  assert.deepEqual([set.imports.leaseMs, set.imports.uploadTimeoutMs, set.imports.uploadIdleMs], [5000, 60_000, 300]);
  assert.throws(() => loadConfig({ ROSTER_IMPORT_LEASE_MS: '10' }), /ROSTER_IMPORT_LEASE_MS="10" must be from 1000 to 600000/);
  assert.throws(
    () => loadConfig({ ROSTER_IMPORT_UPLOAD_TIMEOUT_MS: '15m' }),
    /ROSTER_IMPORT_UPLOAD_TIMEOUT_MS="15m" must be a whole number/,
  );
  assert.throws(() => loadConfig({ ROSTER_IMPORT_UPLOAD_IDLE_MS: '0' }), /ROSTER_IMPORT_UPLOAD_IDLE_MS/);
});

test('unknownVariables names each ROSTER_* variable no key reads, with the closest known name', () => {
  const unknown = unknownVariables({
    ROSTER_DATABSE_URL: './x.db',
    ROSTER_WEBHOOK_WORKER: '4',
    ROSTER_PORT: '9000',
    ROSTER_FROBNICATE: 'yes',
    // Known names, the _FILE form of a secret and variables of other programs are not reported.
    ROSTER_DATABASE_URL: './y.db',
    ROSTER_REDIS_URL_FILE: '/run/secrets/redis',
    PORT: '8080',
    NODE_ENV: 'production',
  });
  assert.deepEqual(unknown, [
    { name: 'ROSTER_DATABSE_URL', suggestion: 'ROSTER_DATABASE_URL' },
    { name: 'ROSTER_FROBNICATE', suggestion: undefined },
    { name: 'ROSTER_PORT', suggestion: 'PORT' },
    { name: 'ROSTER_WEBHOOK_WORKER', suggestion: 'ROSTER_WEBHOOK_WORKERS' },
  ]);
  assert.deepEqual(
    unknownVariables({ ROSTER_BODY_LIMIT_BYTES_FILE: '/x' }),
    [{ name: 'ROSTER_BODY_LIMIT_BYTES_FILE', suggestion: 'ROSTER_BODY_LIMIT_BYTES' }],
    'only secrets may come from a file',
  );
  assert.deepEqual(unknownVariables({}), []);
});

test('every known name is suggested for itself misspelt by one edit', () => {
  for (const spec of CONFIG_KEYS.filter((s) => s.env.startsWith('ROSTER_'))) {
    const swapped = `${spec.env.slice(0, 8)}${spec.env[9]}${spec.env[8]}${spec.env.slice(10)}`;
    const dropped = `${spec.env.slice(0, 9)}${spec.env.slice(10)}`;
    for (const typo of [swapped, dropped]) {
      if (CONFIG_KEYS.some((s) => s.env === typo)) continue;
      assert.equal(unknownVariables({ [typo]: '1' })[0]?.suggestion, spec.env, typo);
    }
  }
});

test('editDistance: zero only for equal strings, symmetric, one per adjacent swap, bounded by the longer length', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 24 }), fc.string({ maxLength: 24 }), (a, b) => {
      const d = editDistance(a, b);
      assert.equal(d, editDistance(b, a));
      assert.equal(d === 0, a === b);
      assert.ok(d <= Math.max(a.length, b.length));
      assert.ok(d >= Math.abs(a.length - b.length));
    }),
  );
  fc.assert(
    fc.property(fc.string({ minLength: 2, maxLength: 24 }), fc.nat(), (a, at) => {
      const i = at % (a.length - 1);
      const swapped = a.slice(0, i) + a[i + 1] + a[i] + a.slice(i + 2);
      assert.ok(editDistance(a, swapped) <= 1);
    }),
  );
  assert.equal(editDistance('ROSTER_DATABSE_URL', 'ROSTER_DATABASE_URL'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3);
});
