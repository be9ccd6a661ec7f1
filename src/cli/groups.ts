import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { buildServices } from '../compose/services.js';
import type { Config } from '../config.js';
import { exportGroupLines, importGroupLines } from '../groups/transfer.js';
import { createLogger } from '../observability/logger.js';

/**
 * `roster export --groups [--out FILE]`: every group with its member ids, NDJSON (groups/transfer.ts).
 */
export async function exportGroupsCommand(out: string | undefined, config: Config): Promise<number> {
  const services = await buildServices(config, createLogger('silent'), { command: { poolSize: 2 } });
  try {
    const text = Readable.from(exportGroupLines(services.groups));
    await pipeline(text, out === undefined ? process.stdout : createWriteStream(out));
    return 0;
  } finally {
    await services.close();
  }
}

/**
 * `roster import --groups FILE|-`: lines are read whole (one group and its member ids: ~4 MB for
 * 100,000 members), one at a time: each line of an export upserted by id; failed lines on stderr
 * (`line N: reason`), the tally as one JSON line on stdout. Exit 0 when every line went in, 1 otherwise.
 */
export async function importGroupsCommand(file: string, config: Config): Promise<number> {
  const services = await buildServices(config, createLogger('silent'), { command: { poolSize: 2 } });
  try {
    const source = file === '-' ? process.stdin : createReadStream(file);
    const lines = createInterface({ input: source, crlfDelay: Infinity });
    const tally = await importGroupLines(services.groups, lines, (line, message) => process.stderr.write(`line ${line}: ${message}\n`));
    process.stdout.write(`${JSON.stringify(tally)}\n`);
    return tally.failed === 0 ? 0 : 1;
  } finally {
    await services.close();
  }
}
