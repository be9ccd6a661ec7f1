import type { ConsoleDependencies } from '../console/plugin.js';
import { ConsoleSessions } from '../console/sessions.js';
import { SqlSessionStore } from '../console/sql-session-store.js';
import type { AuthConfig } from '../config.js';
import type { Services } from './services.js';

/** The admin console over the services: its sessions in the same database, their expiry from the config. */
export function consoleFor(services: Services, auth: AuthConfig): ConsoleDependencies {
  const policy = { idleMs: auth.consoleSessionIdleMinutes * 60_000, absoluteMs: auth.consoleSessionMaxHours * 3_600_000 };
  return {
    users: services.users,
    apiKeys: services.apiKeys,
    events: services.events,
    groups: services.groups,
    sessions: new ConsoleSessions({ store: new SqlSessionStore(services.database.db, services.database.dialect), policy }),
  };
}
