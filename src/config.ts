import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { AllowList } from './kit/allow-list.js';

/**
 * The only module that reads Roster's settings from process.env (kit/heap.ts reads Node's own
 * NODE_OPTIONS, before this module loads). Every key is declared once below with its doc line,
 * default and parser; `loadConfig` validates all of them at boot and fails with one line that
 * names the bad key. Secrets have no default, may come from `<KEY>_FILE`, and are masked
 * whenever config is printed.
 */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** `json`: JSON lines; `pretty`: one readable line per entry; `auto`: pretty on a terminal, JSON otherwise. */
export type LogFormat = 'auto' | 'json' | 'pretty';

/**
 * The configuration by section: each capability receives its own (main.ts and compose.ts pass
 * `config.webhooks` to the webhooks, and so on). `roster --help` and the README list the
 * variables under the same sections.
 */
export interface Config {
  readonly http: HttpConfig;
  readonly database: DatabaseConfig;
  readonly auth: AuthConfig;
  readonly users: UsersConfig;
  readonly events: EventsConfig;
  readonly webhooks: WebhooksConfig;
  readonly imports: ImportsConfig;
  readonly observability: ObservabilityConfig;
}

/** The API listener: where it listens, what it accepts, its limits, deadlines and drain. */
export interface HttpConfig {
  readonly host: string;
  readonly port: number;
  readonly bodyLimitBytes: number;
  /** Deadline of one API request (ROSTER_REQUEST_TIMEOUT_MS), passed down to the database. */
  readonly requestTimeoutMs: number;
  readonly headersTimeoutMs: number;
  /** Time to send the whole request, body included (ROSTER_HTTP_REQUEST_TIMEOUT_MS). */
  readonly wholeRequestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly shedEventLoopDelayMs: number;
  readonly shedHeapUsedMb: number;
  readonly shedEventLoopUtilization: number;
  readonly rateLimitPerMinute: number;
  readonly rateLimitAnonPerMinute: number;
  /** Where the rate-limit counters are shared; undefined: per instance. */
  readonly redisUrl: string | undefined;
  readonly trustProxy: TrustProxy;
  readonly corsOrigins: readonly string[];
  readonly readyTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly shutdownDrainDelayMs: number;
}

export interface DatabaseConfig {
  readonly url: string;
  readonly poolSize: number;
  readonly sqliteBusyTimeoutMs: number;
  readonly migrateOnStart: boolean;
}

export interface AuthConfig {
  readonly bootstrapKey: boolean;
  /** A console session unused this long ends (ROSTER_CONSOLE_SESSION_IDLE_MINUTES). */
  readonly consoleSessionIdleMinutes: number;
  /** A console session ends this long after sign-in, however busy (ROSTER_CONSOLE_SESSION_MAX_HOURS). */
  readonly consoleSessionMaxHours: number;
  readonly cacheTtlMs: number;
  readonly jwt: JwtConfig | undefined;
}

export interface UsersConfig {
  readonly idempotencyTtlHours: number;
}

export interface EventsConfig {
  readonly retentionDays: number;
}

export interface WebhooksConfig {
  /** Webhook targets allowed beyond the public internet (development, tests). */
  readonly allowedHosts: AllowList;
  readonly secretGraceHours: number;
  readonly workers: number;
  readonly pollIntervalMs: number;
  readonly leaseMs: number;
}

export interface ImportsConfig {
  readonly maxBytes: number;
  readonly dir: string;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly uploadTimeoutMs: number;
  readonly uploadIdleMs: number;
  readonly sqliteWorker: boolean;
}

export interface ObservabilityConfig {
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly adminHost: string;
  /** Port of the admin listener (/metrics); undefined turns it off. */
  readonly adminPort: number | undefined;
  readonly tracing: TracingConfig;
}

/**
 * What Roster itself decides about tracing. The OpenTelemetry exporter reads the rest of the
 * standard OTEL_* variables (headers, timeout, compression) itself, as every OTel SDK does.
 */
export interface TracingConfig {
  /** False when OTEL_SDK_DISABLED=true: no tracing even with an endpoint. */
  readonly enabled: boolean;
  /**
   * Tracing runs only when an endpoint is set (and `enabled`): spans go over OTLP/HTTP. Without
   * one the SDK is never loaded and no span exists (observability/tracing.ts).
   */
  readonly exportEndpoint: string | undefined;
  readonly serviceName: string;
  /** Which traces are recorded (OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG). */
  readonly sampler: TracesSampler;
}

/** The standard OTEL_TRACES_SAMPLER values, parent-based ones following the caller's decision. */
export const TRACES_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type TracesSamplerName = (typeof TRACES_SAMPLERS)[number];

export interface TracesSampler {
  readonly name: TracesSamplerName;
  /** The fraction of traces the ratio samplers record (OTEL_TRACES_SAMPLER_ARG; 1 when unset); unused by the others. */
  readonly ratio: number;
}

/** Fastify's `trustProxy`: off/on, a hop count, or the proxies' addresses and CIDR ranges. */
export type TrustProxy = boolean | number | readonly string[];

/** Present when all three JWT variables are set. */
export interface JwtConfig {
  readonly jwksUrl: string;
  readonly issuer: string;
  readonly audience: string;
}

/** A configuration value was missing or malformed; the message names the key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The sections, in the order `roster --help` and describeConfig() list them. */
export const CONFIG_SECTIONS = ['http', 'database', 'auth', 'users', 'events', 'webhooks', 'imports', 'observability'] as const;
export type ConfigSection = (typeof CONFIG_SECTIONS)[number];

/** Each section as its variables read it: the JWT and tracing variables before they are combined. */
interface RawConfig {
  readonly http: HttpConfig;
  readonly database: DatabaseConfig;
  readonly auth: Omit<AuthConfig, 'jwt'> & {
    readonly jwtJwksUrl: string | undefined;
    readonly jwtIssuer: string | undefined;
    readonly jwtAudience: string | undefined;
  };
  readonly users: UsersConfig;
  readonly events: EventsConfig;
  readonly webhooks: WebhooksConfig;
  readonly imports: ImportsConfig;
  readonly observability: Omit<ObservabilityConfig, 'tracing'> & {
    readonly otelSdkDisabled: boolean;
    readonly otelEndpoint: string | undefined;
    readonly otelTracesEndpoint: string | undefined;
    readonly otelServiceName: string;
    readonly otelTracesSampler: TracesSamplerName;
    readonly otelTracesSamplerArg: number;
  };
}

interface KeySpec<S extends ConfigSection, K extends keyof RawConfig[S]> {
  readonly env: string;
  readonly section: S;
  readonly field: K;
  readonly doc: string;
  readonly default?: string;
  /** Masked when printed; may be read from `<env>_FILE`. */
  readonly secret?: boolean;
  parse(raw: string): RawConfig[S][K];
}

type AnySpec = { [S in ConfigSection]: { [K in keyof RawConfig[S]]: KeySpec<S, K> }[keyof RawConfig[S]] }[ConfigSection];

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json', 'pretty'];

/** Every configuration key; `roster --help` prints them by section, in this order within each. */
/** A PostgreSQL URL (anything else is SQLite), as db/database.ts's parseDatabaseUrl() tells them apart. */
const POSTGRES_URL = /^postgres(ql)?:\/\//;

export const CONFIG_KEYS: readonly AnySpec[] = [
  {
    env: 'ROSTER_DATABASE_URL',
    section: 'database',
    field: 'url',
    doc: 'SQLite file path or sqlite: URL (embedded), or postgres:// URL',
    default: './data/roster.db',
    secret: true,
    parse: (raw) => {
      if (POSTGRES_URL.test(raw)) {
        let host = '';
        try {
          host = new URL(raw).hostname;
        } catch {
          // reported below
        }
        if (!/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/.test(host))
          throw new Error('is not a valid postgres:// URL (host missing or malformed)');
      }
      return raw;
    },
  },
  {
    env: 'HOST',
    section: 'http',
    field: 'host',
    doc: 'interface to listen on (0.0.0.0 in containers)',
    default: '127.0.0.1',
    parse: nonEmpty,
  },
  {
    env: 'PORT',
    section: 'http',
    field: 'port',
    doc: 'TCP port of the API (0 picks a free one)',
    default: '8080',
    parse: (raw) => integer(raw, 0, 65535),
  },
  {
    env: 'LOG_LEVEL',
    section: 'observability',
    field: 'logLevel',
    doc: `log threshold: ${LOG_LEVELS.join(', ')}`,
    default: 'info',
    parse: (raw) => {
      if (!LOG_LEVELS.includes(raw as LogLevel)) throw new Error(`must be one of ${LOG_LEVELS.join(', ')}`);
      return raw as LogLevel;
    },
  },
  {
    env: 'LOG_FORMAT',
    section: 'observability',
    field: 'logFormat',
    doc: 'auto: readable lines when stdout is a terminal, JSON lines otherwise; json; pretty',
    default: 'auto',
    parse: (raw) => {
      if (!LOG_FORMATS.includes(raw as LogFormat)) throw new Error(`must be one of ${LOG_FORMATS.join(', ')}`);
      return raw as LogFormat;
    },
  },
  {
    env: 'ROSTER_SHUTDOWN_TIMEOUT_MS',
    section: 'http',
    field: 'shutdownTimeoutMs',
    doc: 'the whole shutdown, counted from SIGTERM and including the drain delay; past it the process exits non-zero',
    default: '15000',
    parse: (raw) => integer(raw, 0, 600_000),
  },
  {
    env: 'ROSTER_SHUTDOWN_DRAIN_DELAY_MS',
    section: 'http',
    field: 'shutdownDrainDelayMs',
    doc: 'after SIGTERM, how long /readyz answers 503 while requests are still served, before the listener closes; at least your load balancer health-check interval × unhealthy threshold (0 for none)',
    default: '5000',
    parse: (raw) => integer(raw, 0, 600_000),
  },
  {
    env: 'ROSTER_BODY_LIMIT_BYTES',
    section: 'http',
    field: 'bodyLimitBytes',
    doc: 'largest request body accepted',
    default: '65536',
    parse: (raw) => integer(raw, 1024, 10 * 1024 * 1024),
  },
  {
    env: 'ROSTER_DB_POOL_SIZE',
    section: 'database',
    field: 'poolSize',
    doc: 'PostgreSQL connections per instance',
    default: '10',
    parse: (raw) => integer(raw, 1, 1000),
  },
  {
    env: 'ROSTER_READY_TIMEOUT_MS',
    section: 'http',
    field: 'readyTimeoutMs',
    doc: 'database ping deadline for /readyz',
    default: '1000',
    parse: (raw) => integer(raw, 10, 60_000),
  },
  {
    env: 'ROSTER_WEBHOOK_LEASE_MS',
    section: 'webhooks',
    field: 'leaseMs',
    doc: 'how long a dispatcher holds an endpoint without progress before another instance may take it over (after a crash); one attempt may last at most half of it, up to 30 s',
    default: '60000',
    parse: (raw) => integer(raw, 2_000, 3_600_000),
  },
  {
    env: 'ROSTER_SQLITE_BUSY_TIMEOUT_MS',
    section: 'database',
    field: 'sqliteBusyTimeoutMs',
    doc: 'how long SQLite waits for another process holding the write lock',
    default: '5000',
    parse: (raw) => integer(raw, 0, 60_000),
  },
  {
    env: 'ROSTER_CONSOLE_SESSION_IDLE_MINUTES',
    section: 'auth',
    field: 'consoleSessionIdleMinutes',
    doc: 'a console session unused this long ends (at most the session’s maximum age)',
    default: '30',
    parse: (raw) => integer(raw, 1, 24 * 60),
  },
  {
    env: 'ROSTER_CONSOLE_SESSION_MAX_HOURS',
    section: 'auth',
    field: 'consoleSessionMaxHours',
    doc: 'a console session ends this long after sign-in, however busy',
    default: '12',
    parse: (raw) => integer(raw, 1, 7 * 24),
  },
  {
    env: 'ROSTER_IDEMPOTENCY_TTL_HOURS',
    section: 'users',
    field: 'idempotencyTtlHours',
    doc: 'how long an Idempotency-Key is remembered',
    default: '24',
    parse: (raw) => integer(raw, 1, 24 * 30),
  },
  {
    env: 'ROSTER_MIGRATE_ON_START',
    section: 'database',
    field: 'migrateOnStart',
    doc: 'apply pending migrations when serve starts',
    default: 'true',
    parse: boolean,
  },
  {
    env: 'ROSTER_BOOTSTRAP_KEY',
    section: 'auth',
    field: 'bootstrapKey',
    doc: 'on first start, create an admin API key and print it once to stderr (on|off)',
    default: 'on',
    parse: boolean,
  },
  {
    env: 'ROSTER_AUTH_CACHE_TTL_MS',
    section: 'auth',
    field: 'cacheTtlMs',
    doc: 'how long a verified API key is trusted from memory (bounds how late other instances see a revocation)',
    default: '5000',
    parse: (raw) => integer(raw, 0, 300_000),
  },
  {
    env: 'ROSTER_JWT_JWKS_URL',
    section: 'auth',
    field: 'jwtJwksUrl',
    doc: 'JWKS URL of the JWT issuer; set with ISSUER and AUDIENCE to accept JWT bearer tokens',
    default: '',
    secret: true,
    parse: optionalUrl,
  },
  {
    env: 'ROSTER_JWT_ISSUER',
    section: 'auth',
    field: 'jwtIssuer',
    doc: 'required `iss` of accepted JWTs',
    default: '',
    secret: true,
    parse: optional,
  },
  {
    env: 'ROSTER_JWT_AUDIENCE',
    section: 'auth',
    field: 'jwtAudience',
    doc: 'required `aud` of accepted JWTs',
    default: '',
    secret: true,
    parse: optional,
  },
  {
    env: 'ROSTER_RATE_LIMIT_PER_MINUTE',
    section: 'http',
    field: 'rateLimitPerMinute',
    doc: 'requests a minute allowed per credential (API key or JWT subject)',
    default: '1200',
    parse: (raw) => integer(raw, 1, 1_000_000),
  },
  {
    env: 'ROSTER_RATE_LIMIT_ANON_PER_MINUTE',
    section: 'http',
    field: 'rateLimitAnonPerMinute',
    doc: 'requests a minute allowed per client IP without valid credentials',
    default: '60',
    parse: (raw) => integer(raw, 1, 1_000_000),
  },
  {
    env: 'ROSTER_REDIS_URL',
    section: 'http',
    field: 'redisUrl',
    doc: 'redis:// or rediss:// URL; rate-limit counters are shared there by all instances (unset: per instance)',
    default: '',
    secret: true,
    parse: optionalRedisUrl,
  },
  {
    env: 'ROSTER_TRUST_PROXY',
    section: 'http',
    field: 'trustProxy',
    doc: 'trust X-Forwarded-For from proxies: true, false, a hop count (only if clients cannot bypass the proxies), or comma-separated proxy IPs/CIDRs',
    default: 'false',
    parse: trustProxy,
  },
  {
    env: 'ROSTER_CORS_ORIGINS',
    section: 'http',
    field: 'corsOrigins',
    doc: 'comma-separated origins allowed by CORS, e.g. https://admin.example.com (empty: CORS off)',
    default: '',
    parse: corsOrigins,
  },
  {
    env: 'ROSTER_ADMIN_HOST',
    section: 'observability',
    field: 'adminHost',
    doc: 'interface of the admin listener (/metrics); keep it private, scrape it from inside the network',
    default: '127.0.0.1',
    parse: nonEmpty,
  },
  {
    env: 'ROSTER_ADMIN_PORT',
    section: 'observability',
    field: 'adminPort',
    doc: 'port of the admin listener serving /metrics (0 picks a free one, off disables it)',
    default: '9464',
    parse: (raw) => (raw === 'off' ? undefined : integer(raw, 0, 65535)),
  },
  {
    env: 'ROSTER_REQUEST_TIMEOUT_MS',
    section: 'http',
    field: 'requestTimeoutMs',
    doc: 'deadline of one API request, passed down to the database (PostgreSQL statements are cancelled at it); past it the client gets a 504 problem',
    default: '10000',
    parse: (raw) => integer(raw, 100, 600_000),
  },
  {
    env: 'ROSTER_HTTP_HEADERS_TIMEOUT_MS',
    section: 'http',
    field: 'headersTimeoutMs',
    doc: 'time a client has to send the request headers (slow-loris guard); past it: 408 and the connection closed',
    default: '10000',
    parse: (raw) => integer(raw, 1000, 600_000),
  },
  {
    env: 'ROSTER_HTTP_REQUEST_TIMEOUT_MS',
    section: 'http',
    field: 'wholeRequestTimeoutMs',
    doc: 'time a client has to send the whole request, body included',
    default: '30000',
    parse: (raw) => integer(raw, 1000, 3_600_000),
  },
  {
    env: 'ROSTER_HTTP_KEEP_ALIVE_TIMEOUT_MS',
    section: 'http',
    field: 'keepAliveTimeoutMs',
    doc: 'idle keep-alive connections are closed after this; keep it above your load balancer idle timeout',
    default: '72000',
    parse: (raw) => integer(raw, 1000, 600_000),
  },
  {
    env: 'ROSTER_SHED_EVENT_LOOP_DELAY_MS',
    section: 'http',
    field: 'shedEventLoopDelayMs',
    doc: 'shed new requests (503) while the mean event-loop delay is above this (0 disables)',
    default: '200',
    parse: (raw) => integer(raw, 0, 60_000),
  },
  {
    env: 'ROSTER_SHED_HEAP_USED_MB',
    section: 'http',
    field: 'shedHeapUsedMb',
    doc: 'shed new requests while the V8 heap in use is above this many MiB (0: 90% of the heap limit)',
    default: '0',
    parse: (raw) => integer(raw, 0, 1_000_000),
  },
  {
    env: 'ROSTER_SHED_EVENT_LOOP_UTILIZATION',
    section: 'http',
    field: 'shedEventLoopUtilization',
    doc: 'shed new requests while event-loop utilisation over the last second is above this fraction (0 disables; a busy but healthy instance sits near 1)',
    default: '0',
    parse: fraction,
  },
  {
    env: 'ROSTER_EVENT_RETENTION_DAYS',
    section: 'events',
    field: 'retentionDays',
    doc: 'how long events stay in the feed; older ones are pruned in the background (at least 7, beyond the 3-day webhook retry horizon)',
    default: '30',
    parse: (raw) => integer(raw, 7, 3650),
  },
  {
    env: 'ROSTER_WEBHOOK_ALLOWED_HOSTS',
    section: 'webhooks',
    field: 'allowedHosts',
    doc: 'comma-separated host names, IPs and CIDRs webhooks may reach although they are loopback/private (development and tests only)',
    default: '',
    parse: (raw) => AllowList.parse(raw),
  },
  {
    env: 'ROSTER_WEBHOOK_SECRET_GRACE_HOURS',
    section: 'webhooks',
    field: 'secretGraceHours',
    doc: 'how long the previous webhook signing secret keeps signing after a rotation',
    default: '24',
    parse: (raw) => integer(raw, 0, 720),
  },
  {
    env: 'ROSTER_WEBHOOK_WORKERS',
    section: 'webhooks',
    field: 'workers',
    doc: 'webhook endpoints this instance delivers to at once (0 turns the dispatcher off)',
    default: '16',
    parse: (raw) => integer(raw, 0, 1000),
  },
  {
    env: 'ROSTER_WEBHOOK_POLL_INTERVAL_MS',
    section: 'webhooks',
    field: 'pollIntervalMs',
    doc: 'how often an idle webhook dispatcher looks for due deliveries while commits are not announced to it (commits wake it at once; then it polls every second)',
    default: '50',
    parse: (raw) => integer(raw, 10, 60_000),
  },
  {
    env: 'ROSTER_IMPORT_MAX_BYTES',
    section: 'imports',
    field: 'maxBytes',
    doc: 'largest file POST /v1/imports accepts (its own cap: ROSTER_BODY_LIMIT_BYTES is for JSON bodies)',
    default: String(1024 * 1024 * 1024),
    parse: (raw) => integer(raw, 1024, 1024 ** 4),
  },
  {
    env: 'ROSTER_IMPORT_DIR',
    section: 'imports',
    field: 'dir',
    doc: 'where uploaded import files are spooled before they are imported',
    default: './data/imports',
    parse: nonEmpty,
  },
  {
    env: 'ROSTER_IMPORT_CONCURRENCY',
    section: 'imports',
    field: 'concurrency',
    doc: 'import jobs an instance runs at once (more wait in a bounded queue)',
    default: '1',
    parse: (raw) => integer(raw, 1, 8),
  },
  {
    env: 'ROSTER_IMPORT_LEASE_MS',
    section: 'imports',
    field: 'leaseMs',
    doc: "how long a process holds an import job without renewing (it renews every third of it); a crashed holder's job is resumed after this, at once on the same host",
    default: '30000',
    parse: (raw) => integer(raw, 1_000, 600_000),
  },
  {
    env: 'ROSTER_IMPORT_UPLOAD_TIMEOUT_MS',
    section: 'imports',
    field: 'uploadTimeoutMs',
    doc: 'time a client has to send a whole POST /v1/imports body (uploads are exempt from ROSTER_REQUEST_TIMEOUT_MS and ROSTER_HTTP_REQUEST_TIMEOUT_MS); past it: 408',
    default: String(15 * 60_000),
    parse: (raw) => integer(raw, 1_000, 24 * 3_600_000),
  },
  {
    env: 'ROSTER_IMPORT_UPLOAD_IDLE_MS',
    section: 'imports',
    field: 'uploadIdleMs',
    doc: 'an upload that sends no bytes for this long is stopped with a 408 and its partial file removed',
    default: '30000',
    parse: (raw) => integer(raw, 100, 3_600_000),
  },
  {
    env: 'ROSTER_IMPORT_SQLITE_WORKER',
    section: 'imports',
    field: 'sqliteWorker',
    doc: "SQLite imports that create users read and check the file in a worker thread while the main thread inserts: ~20% faster for 1M rows, at a second V8 heap (~+60-110 MB at peak); another process's writes (a server beside `roster import`) then wait longer for the lock",
    default: 'false',
    parse: boolean,
  },
  {
    env: 'OTEL_SDK_DISABLED',
    section: 'observability',
    field: 'otelSdkDisabled',
    doc: 'standard OpenTelemetry switch: true turns tracing off entirely',
    default: 'false',
    parse: boolean,
  },
  {
    env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    section: 'observability',
    field: 'otelEndpoint',
    doc: 'OTLP/HTTP collector base URL, e.g. http://otel-collector:4318; unset: spans are not exported (other OTEL_EXPORTER_OTLP_* variables are honoured)',
    default: '',
    parse: optionalUrl,
  },
  {
    env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    section: 'observability',
    field: 'otelTracesEndpoint',
    doc: 'full OTLP/HTTP traces URL; overrides OTEL_EXPORTER_OTLP_ENDPOINT for traces',
    default: '',
    parse: optionalUrl,
  },
  {
    env: 'OTEL_SERVICE_NAME',
    section: 'observability',
    field: 'otelServiceName',
    doc: 'service.name on every span',
    default: 'roster',
    parse: nonEmpty,
  },
  {
    env: 'OTEL_TRACES_SAMPLER',
    section: 'observability',
    field: 'otelTracesSampler',
    doc: `which traces are recorded and exported: ${TRACES_SAMPLERS.join(', ')} (parentbased_*: a caller's sampled flag decides)`,
    default: 'parentbased_always_on',
    parse: (raw) => {
      if (!TRACES_SAMPLERS.includes(raw as TracesSamplerName)) throw new Error(`must be one of ${TRACES_SAMPLERS.join(', ')}`);
      return raw as TracesSamplerName;
    },
  },
  {
    env: 'OTEL_TRACES_SAMPLER_ARG',
    section: 'observability',
    field: 'otelTracesSamplerArg',
    doc: 'the fraction of traces recorded by traceidratio and parentbased_traceidratio',
    default: '1',
    parse: probability,
  },
];

/**
 * On PostgreSQL each running import holds one pooled connection for its whole run, and its job
 * needs another beside it: the lease renewals (a renewal that waits for a connection past the
 * lease loses the job to another instance) and, at the end, the job's record and its summary
 * event with that event's numbering pass (events/sql-sequencer.ts). One spare connection is
 * enough: those are short, and everything else on the pool (requests, job updates) holds one
 * connection and waits for none.
 */
function assertPoolFitsImports(raw: RawConfig): void {
  const { url, poolSize } = raw.database;
  const least = raw.imports.concurrency + 1;
  if (POSTGRES_URL.test(url) && poolSize < least) {
    throw new ConfigError(
      `ROSTER_DB_POOL_SIZE=${poolSize} is too small for ROSTER_IMPORT_CONCURRENCY=${raw.imports.concurrency} on PostgreSQL: ` +
        `each running import holds a connection and its job's lease renewals need another, so at least ${least} are needed ` +
        '(ROSTER_IMPORT_CONCURRENCY + 1; the default of 10 leaves room for API requests too)',
    );
  }
}

/** Reads and validates every key. @throws ConfigError naming the first bad key. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const sections: Record<string, Record<string, unknown>> = Object.fromEntries(CONFIG_SECTIONS.map((name) => [name, {}]));
  for (const spec of CONFIG_KEYS) {
    const raw = readRaw(spec, env);
    if (raw === undefined) throw new ConfigError(`${spec.env} is required: ${spec.doc}`);
    try {
      sections[spec.section]![spec.field] = spec.parse(raw);
    } catch (error) {
      const shown = spec.secret ? '(secret)' : JSON.stringify(raw);
      throw new ConfigError(`${spec.env}=${shown} ${(error as Error).message}`, { cause: error });
    }
  }
  const raw = sections as unknown as RawConfig;
  const { jwtJwksUrl, jwtIssuer, jwtAudience, ...auth } = raw.auth;
  const { otelSdkDisabled, otelEndpoint, otelTracesEndpoint, otelServiceName, otelTracesSampler, otelTracesSamplerArg, ...observability } =
    raw.observability;
  const jwtSet = [jwtJwksUrl, jwtIssuer, jwtAudience].filter((v) => v !== undefined).length;
  if (jwtSet !== 0 && jwtSet !== 3) {
    throw new ConfigError('ROSTER_JWT_JWKS_URL, ROSTER_JWT_ISSUER and ROSTER_JWT_AUDIENCE must be set together, or none of them');
  }
  const { shutdownDrainDelayMs, shutdownTimeoutMs } = raw.http;
  if (shutdownDrainDelayMs > 0 && shutdownDrainDelayMs >= shutdownTimeoutMs) {
    throw new ConfigError(
      `ROSTER_SHUTDOWN_DRAIN_DELAY_MS=${shutdownDrainDelayMs} must be less than ROSTER_SHUTDOWN_TIMEOUT_MS=${shutdownTimeoutMs}: ` +
        'the shutdown timeout counts from SIGTERM and includes the drain delay, so leave it room for requests in flight ' +
        '(e.g. ROSTER_SHUTDOWN_TIMEOUT_MS ≥ the delay + ROSTER_REQUEST_TIMEOUT_MS)',
    );
  }
  assertPoolFitsImports(raw);
  if (auth.consoleSessionIdleMinutes > auth.consoleSessionMaxHours * 60) {
    throw new ConfigError(
      `ROSTER_CONSOLE_SESSION_IDLE_MINUTES=${auth.consoleSessionIdleMinutes} must not exceed ROSTER_CONSOLE_SESSION_MAX_HOURS=${auth.consoleSessionMaxHours} ` +
        '(in minutes): a session never outlives its maximum age',
    );
  }
  const jwt = jwtJwksUrl && jwtIssuer && jwtAudience ? { jwksUrl: jwtJwksUrl, issuer: jwtIssuer, audience: jwtAudience } : undefined;
  const tracing: TracingConfig = {
    enabled: !otelSdkDisabled,
    exportEndpoint: otelTracesEndpoint ?? otelEndpoint,
    serviceName: otelServiceName,
    sampler: { name: otelTracesSampler, ratio: otelTracesSamplerArg },
  };
  return { ...raw, auth: { ...auth, jwt }, observability: { ...observability, tracing } };
}

function readRaw(spec: AnySpec, env: NodeJS.ProcessEnv): string | undefined {
  const fileVar = `${spec.env}_FILE`;
  if (spec.secret && env[fileVar] !== undefined && env[fileVar] !== '') {
    try {
      return readFileSync(env[fileVar], 'utf8').trim();
    } catch (error) {
      throw new ConfigError(`${fileVar}=${JSON.stringify(env[fileVar])} cannot be read: ${(error as Error).message}`, { cause: error });
    }
  }
  const value = env[spec.env];
  return value === undefined || value === '' ? spec.default : value;
}

/** A `ROSTER_*` variable Roster does not read, and the known name it is most likely a typo of. */
export interface UnknownVariable {
  readonly name: string;
  readonly suggestion: string | undefined;
}

/**
 * The `ROSTER_*` variables set in `env` that no key reads (a misspelt name is otherwise silently
 * ignored and its default used), each with the closest known name when one is near enough.
 * Secrets' `<KEY>_FILE` forms are known names.
 */
export function unknownVariables(env: NodeJS.ProcessEnv = process.env): UnknownVariable[] {
  const known = CONFIG_KEYS.flatMap((spec) => (spec.secret ? [spec.env, `${spec.env}_FILE`] : [spec.env]));
  return Object.keys(env)
    .filter((name) => name.startsWith('ROSTER_') && !known.includes(name))
    .sort()
    .map((name) => {
      // ROSTER_PORT for PORT, ROSTER_LOG_LEVEL for LOG_LEVEL: the unprefixed keys are the usual names for these.
      const unprefixed = name.slice('ROSTER_'.length);
      return { name, suggestion: known.includes(unprefixed) ? unprefixed : closest(name, known) };
    });
}

/** The candidate within a third of `name`'s length in edits (insert, delete, substitute, swap), if any. */
function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (distance <= Math.max(2, Math.floor(name.length / 3)) && (best === undefined || distance < best.distance)) {
      best = { name: candidate, distance };
    }
  }
  return best?.name;
}

/** Optimal string alignment distance: Levenshtein plus adjacent transpositions (DATBASE ↔ DATABASE). */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/** A printable value: lists and allow-lists joined with commas. */
type Shown = string | number | boolean;

/**
 * The config with secrets masked (passwords in URLs included), for logs: by section, each
 * value under the name of its variable, e.g. `{ http: { PORT: 8080, … }, database: { … } }`.
 */
export function describeConfig(config: Config): Record<ConfigSection, Record<string, Shown>> {
  const raw = {
    ...config,
    auth: {
      ...config.auth,
      jwtJwksUrl: config.auth.jwt?.jwksUrl,
      jwtIssuer: config.auth.jwt?.issuer,
      jwtAudience: config.auth.jwt?.audience,
    },
    observability: {
      ...config.observability,
      otelSdkDisabled: !config.observability.tracing.enabled,
      otelServiceName: config.observability.tracing.serviceName,
      otelEndpoint: config.observability.tracing.exportEndpoint,
      otelTracesSampler: config.observability.tracing.sampler.name,
      otelTracesSamplerArg: config.observability.tracing.sampler.ratio,
    },
  };
  const out = Object.fromEntries(CONFIG_SECTIONS.map((name) => [name, {}])) as Record<ConfigSection, Record<string, Shown>>;
  for (const spec of CONFIG_KEYS) {
    const given = (raw[spec.section] as Record<string, unknown>)[spec.field] as Shown | readonly string[] | AllowList | undefined;
    if (given === undefined) continue;
    const value = Array.isArray(given) ? given.join(',') : given instanceof AllowList ? given.entries.join(',') : (given as Shown);
    out[spec.section][spec.env] = spec.secret ? maskSecret(String(value)) : value;
  }
  return out;
}

/** Keeps a URL's shape but hides its password; hides anything else that is not a plain path. */
export function maskSecret(value: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    try {
      const url = new URL(value);
      if (url.password) url.password = '*****';
      return url.toString();
    } catch {
      return '*****';
    }
  }
  return value;
}

/** The key table as `--help` text, by section. */
export function configHelp(): string {
  const width = Math.max(...CONFIG_KEYS.map((s) => s.env.length));
  return CONFIG_SECTIONS.map((section) => {
    const lines = CONFIG_KEYS.filter((s) => s.section === section).map((s) => {
      const dflt = s.default === undefined ? 'required' : `default ${s.default}`;
      const extra = s.secret ? `; secret, or from ${s.env}_FILE` : '';
      return `    ${s.env.padEnd(width)}  ${s.doc} (${dflt}${extra})`;
    });
    return [`  ${section}:`, ...lines].join('\n');
  }).join('\n');
}

function optional(raw: string): string | undefined {
  return raw.trim() === '' ? undefined : raw.trim();
}

/** A parser for an optional URL whose scheme is one of `protocols` (e.g. 'https:'). */
function optionalUrlOf(protocols: readonly string[], what: string) {
  return (raw: string): string | undefined => {
    const value = optional(raw);
    if (value === undefined) return undefined;
    let protocol = '';
    try {
      protocol = new URL(value).protocol;
    } catch {
      // reported below
    }
    if (!protocols.includes(protocol)) throw new Error(`must be ${what}`);
    return value;
  };
}

function optionalUrl(raw: string): string | undefined {
  return optionalUrlOf(['https:', 'http:'], 'an http(s) URL')(raw);
}

function optionalRedisUrl(raw: string): string | undefined {
  return optionalUrlOf(['redis:', 'rediss:'], 'a redis:// or rediss:// URL')(raw);
}

function trustProxy(raw: string): TrustProxy {
  const value = raw.trim();
  if (['true', 'false'].includes(value)) return value === 'true';
  if (/^\d+$/.test(value)) return integer(value, 1, 100);
  const entries = value.split(',').map((e) => e.trim());
  for (const entry of entries) {
    const [address = '', prefix, ...rest] = entry.split('/');
    const family = isIP(address);
    const maxPrefix = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (family === 0 || !prefixOk || rest.length > 0) {
      throw new Error(`must be true, false, a hop count or comma-separated IPs/CIDRs (${JSON.stringify(entry)} is none)`);
    }
  }
  return entries;
}

function corsOrigins(raw: string): readonly string[] {
  const entries = raw
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  for (const entry of entries) {
    let url: URL | undefined;
    try {
      url = new URL(entry);
    } catch {
      // reported below
    }
    // An origin is scheme://host[:port] exactly, as browsers send it: no path, no trailing slash.
    if (url === undefined || !['http:', 'https:'].includes(url.protocol) || url.origin !== entry) {
      throw new Error(`must be comma-separated origins like https://app.example.com (${JSON.stringify(entry)} is not one)`);
    }
  }
  return entries;
}

function nonEmpty(raw: string): string {
  if (raw.trim() === '') throw new Error('must not be empty');
  return raw;
}

function integer(raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw)) throw new Error(`must be a whole number from ${min} to ${max}`);
  const value = Number(raw);
  if (value < min || value > max) throw new Error(`must be from ${min} to ${max}`);
  return value;
}

function fraction(raw: string): number {
  const value = Number(raw);
  if (!/^(0|1|0?\.\d+)$/.test(raw) || value > 1) throw new Error('must be a fraction from 0 to 1, e.g. 0.98');
  return value;
}

/** A sampling probability as OpenTelemetry writes it: 0, 1, 0.25, 1.0. */
function probability(raw: string): number {
  const value = Number(raw);
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(raw) || value > 1) throw new Error('must be a probability from 0 to 1, e.g. 0.25');
  return value;
}

function boolean(raw: string): boolean {
  if (['true', '1', 'yes', 'on'].includes(raw)) return true;
  if (['false', '0', 'no', 'off'].includes(raw)) return false;
  throw new Error('must be true or false');
}
