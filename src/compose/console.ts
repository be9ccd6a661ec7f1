import type { ConsoleDependencies } from '../console/plugin.js';
import { ConsoleSessions } from '../console/sessions.js';
import { SqlSessionStore } from '../console/sql-session-store.js';
import type { ImportsHttp } from '../http/imports.routes.js';
import { readinessState, type Readiness } from '../http/health.routes.js';
import type { Logger } from '../observability/logger.js';
import { summarizeMetrics } from '../observability/metrics-summary.js';
import { buildCommit, packageVersion } from '../version.js';
import type { AuthConfig } from '../config.js';
import type { Services } from './services.js';

/**
 * The admin console over the services: its sessions in the same database (their expiry from the
 * config), imports through what the REST routes use, and the status screen over the /readyz
 * checks and the metrics registry.
 */
export function consoleFor(
  services: Services,
  auth: AuthConfig,
  extra: { readonly imports?: ImportsHttp; readonly readiness?: Readiness; readonly logger?: Logger } = {},
): ConsoleDependencies {
  const { readiness, logger } = extra;
  const policy = { idleMs: auth.consoleSessionIdleMinutes * 60_000, absoluteMs: auth.consoleSessionMaxHours * 3_600_000 };
  return {
    users: services.users,
    apiKeys: services.apiKeys,
    events: services.events,
    webhooks: services.webhooks,
    groups: services.groups,
    sessions: new ConsoleSessions({ store: new SqlSessionStore(services.database.db, services.database.dialect), policy }),
    ...(extra.imports === undefined ? {} : { imports: extra.imports }),
    ...(readiness === undefined
      ? {}
      : {
          status: {
            version: packageVersion(),
            commit: buildCommit(),
            dialect: services.database.dialect.name,
            readiness: () =>
              readinessState(readiness, (error) => logger?.warn({ err: error }, 'status screen: the database did not answer')),
            metrics: () => summarizeMetrics(services.registry),
          },
        }),
  };
}
