import type { Config } from '../config.js';
import { createLogger } from '../observability/logger.js';
import { print, UsageError } from './output.js';

/** `roster keys create|list|revoke`. */
export async function keys(
  args: string[],
  options: { name?: string; scope?: string[]; 'expires-in'?: string },
  config: Config,
): Promise<number> {
  const [action, ...extra] = args;
  if (!['create', 'list', 'revoke'].includes(action ?? '') || extra.length > (action === 'revoke' ? 1 : 0)) {
    throw new UsageError('keys takes one of: create --name N --scope S, list, revoke ID');
  }
  const { buildServices } = await import('../compose/services.js');
  const services = await buildServices(config, createLogger('silent'), { command: { poolSize: 1 } });
  try {
    const service = services.apiKeys;
    if (action === 'list') {
      const rows = (await service.list()).map((k) => [
        k.id,
        k.name,
        k.scopes.join(','),
        k.createdAt.toISOString(),
        k.expiresAt?.toISOString() ?? '-',
        k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active',
        k.lastUsedAt?.toISOString() ?? 'never',
      ]);
      print(['id\tname\tscopes\tcreated\texpires\tstatus\tlast used', ...rows.map((r) => r.join('\t'))].join('\n') + '\n');
      return 0;
    }
    if (action === 'revoke') {
      const id = extra[0];
      if (id === undefined) throw new UsageError('keys revoke needs the key id (see roster keys list)');
      const record = await service.revoke(id);
      print(`revoked ${record.id} (${record.name})\n`);
      return 0;
    }
    if (options.name === undefined || options.scope === undefined)
      throw new UsageError('keys create needs --name and at least one --scope');
    const expiresInSeconds = options['expires-in'] === undefined ? undefined : parseDuration(options['expires-in']);
    const { record, plaintext } = await service.create({ name: options.name, scopes: options.scope, expiresInSeconds });
    print(
      `created API key ${record.id} "${record.name}" with scopes ${record.scopes.join(', ')}` +
        `${record.expiresAt ? `, expiring ${record.expiresAt.toISOString()}` : ''}.\n` +
        'The key is shown only this once; store it now:\n' +
        `${plaintext}\n`,
    );
    return 0;
  } finally {
    await services.close();
  }
}

/** `90s`, `15m`, `12h`, `30d` → seconds. */
function parseDuration(text: string): number {
  const match = /^([1-9][0-9]{0,5})([smhd])$/.exec(text);
  if (!match) throw new UsageError(`--expires-in "${text}" must look like 90s, 15m, 12h or 30d`);
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 's' | 'm' | 'h' | 'd'];
}
