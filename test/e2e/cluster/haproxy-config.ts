// The balancer's configuration: one template (haproxy.cfg.template, beside this file's source)
// that the cluster test fills in with its loopback ports and docs/operations.md shows filled in
// for a deployment (DOCUMENTED_EXAMPLE; haproxy-config.unit.test.ts keeps the two in step).
import { fileURLToPath } from 'node:url';

/** The source template (this module runs from dist/test/e2e/cluster/). */
export const HAPROXY_TEMPLATE = fileURLToPath(new URL('../../../../test/e2e/cluster/haproxy.cfg.template', import.meta.url));

/** The template with each {{NAME}} replaced; a name without a value is an error. */
export function renderHaproxyConfig(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`haproxy.cfg.template names {{${name}}}, which is not filled in`);
    return value;
  });
}

/** The values docs/operations.md shows: three instances, checks every 2 s, out after 3 failures. */
export const DOCUMENTED_EXAMPLE: Readonly<Record<string, string>> = {
  BIND: '0.0.0.0',
  FRONTEND_PORT: '80',
  STATS_BIND: '127.0.0.1',
  STATS_PORT: '8404',
  INTER: '2s',
  FALL: '3',
  SERVERS: ['roster-1.internal:8080', 'roster-2.internal:8080', 'roster-3.internal:8080']
    .map((address, i) => `    server roster${i + 1} ${address}`)
    .join('\n'),
};
