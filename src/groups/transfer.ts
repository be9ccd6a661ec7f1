import { isPlainObject } from '../users/model.js';
import type { GroupContext, GroupsService } from './service.js';

/**
 * How groups and their memberships travel (`roster export --groups`, `roster import --groups`):
 * NDJSON, one group per line with its member ids,
 * `{"id","display_name","external_id","attributes","member_ids":[…]}`. A file of their own rather
 * than a column of the users export: a membership belongs to the group's change history (its
 * version, its events), and a user's groups would repeat every group's fields per user. Users go
 * first (`roster export` / `roster import`, which keep ids); then the groups file, whose member
 * ids must all exist.
 */
export interface GroupLine {
  readonly id: string;
  readonly display_name: string;
  readonly external_id: string | null;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly member_ids: readonly string[];
}

const GROUPS_PER_PAGE = 100;
const MEMBERS_PER_PAGE = 1000;

/**
 * Every group in id order, each with all its members (read by cursor, a page at a time: memory
 * holds one group's member ids). Not one snapshot: a group changed while the export runs may be
 * written as it was before or after (each page is consistent on its own).
 */
export async function* exportGroupLines(groups: GroupsService, ctx: GroupContext = {}): AsyncGenerator<string> {
  let cursor: string | undefined;
  do {
    const page = await groups.list({ limit: GROUPS_PER_PAGE, cursor }, ctx);
    for (const group of page.items) {
      const memberIds: string[] = [];
      let members: string | undefined;
      try {
        do {
          const part = await groups.members(group.id, { limit: MEMBERS_PER_PAGE, cursor: members }, ctx);
          memberIds.push(...part.items.map((m) => m.userId));
          members = part.nextCursor ?? undefined;
        } while (members !== undefined);
      } catch (error) {
        // Deleted between the list and its members: it is not in the directory any more.
        if ((error as { code?: unknown }).code === 'group-not-found') continue;
        throw error;
      }
      const line: GroupLine = {
        id: group.id,
        display_name: group.displayName,
        external_id: group.externalId,
        attributes: group.attributes,
        member_ids: memberIds,
      };
      yield `${JSON.stringify(line)}\n`;
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
}

export interface GroupImportTally {
  created: number;
  replaced: number;
  failed: number;
}

/**
 * Each line upserted by id (GroupsService.upsert(): created with its id, or replaced with its
 * fields and whole member list), one transaction per group with the usual events. A line that
 * fails (bad JSON, a rule, a taken name, unknown members) is reported and skipped.
 */
export async function importGroupLines(
  groups: GroupsService,
  lines: AsyncIterable<string>,
  onError: (line: number, message: string) => void,
  ctx: GroupContext = {},
): Promise<GroupImportTally> {
  const tally: GroupImportTally = { created: 0, replaced: 0, failed: 0 };
  let number = 0;
  for await (const text of lines) {
    number++;
    if (text.trim() === '') continue;
    try {
      const value: unknown = JSON.parse(text);
      if (!isPlainObject(value) || typeof value.id !== 'string') throw new Error('each line must be a JSON object with an "id"');
      const { id, ...fields } = value;
      const { created } = await groups.upsert(id, fields as { display_name: unknown }, ctx);
      if (created) tally.created++;
      else tally.replaced++;
    } catch (error) {
      ctx.signal?.throwIfAborted();
      if ((error as { code?: unknown }).code === 'unavailable') throw error;
      tally.failed++;
      const details = (error as { errors?: readonly { pointer: string; message: string }[] }).errors;
      onError(number, details ? details.map((e) => `${e.pointer} ${e.message}`).join('; ') : (error as Error).message);
    }
  }
  return tally;
}
