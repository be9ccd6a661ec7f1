import { ValidationError } from '../../kit/errors.js';
import { parseNewUser, parseUserId, type NewUser, type UserId } from '../../users/model.js';
import type { CheckedItem, ParseItem, ParsedRow, RejectedRow, Stage, ValidRow } from './rows.js';

/**
 * A parsed row → a user, by the API's own rules (parseNewUser: trimmed NFC names, email
 * syntax and lengths, attribute and profile caps, external id rules; absent provisioning
 * fields take their defaults), or a rejection listing every broken field together
 * with the problems the parser already found. A field the parser already faulted is not
 * reported twice.
 */
export function validateRow(row: ParsedRow): ValidRow | RejectedRow {
  const { line, fields } = row;
  let errors = row.errors;
  const add = (field: string, reason: string) => {
    if (!errors.some((e) => e.field === field)) errors = [...errors, { line, field, reason }];
  };
  let user: NewUser | undefined;
  try {
    user = parseNewUser({
      email: fields.email,
      name: fields.name,
      active: fields.active,
      external_id: fields.external_id,
      given_name: fields.given_name,
      family_name: fields.family_name,
      attributes: fields.attributes ?? NO_ATTRIBUTES,
      profile: fields.profile ?? NO_PROFILE,
    });
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    for (const { pointer, message } of error.errors) add(pointer.slice(1), message);
  }
  let id: UserId | undefined;
  if (fields.id !== undefined) {
    const parsed = typeof fields.id === 'string' ? parseUserId(fields.id) : ({ ok: false, message: 'must be a string' } as const);
    if (parsed.ok) id = parsed.value;
    else add('id', parsed.message);
  }
  if (user === undefined || errors.length > 0) return { kind: 'rejected', line, errors };
  return { kind: 'valid', line, bytes: row.bytes, user: id === undefined ? user : { ...user, id }, maybeDuplicate: false };
}

/**
 * One empty attributes object and one empty profile for every row without them, rather than two
 * new objects per row (parseNewUser's defaults): a batch's rows live until it commits, long
 * enough to reach V8's old generation, where they are garbage to collect. Frozen, being shared.
 */
const NO_ATTRIBUTES = Object.freeze({});
const NO_PROFILE = Object.freeze({});

/** The validate stage: parsed rows are checked, rejected rows pass through. */
export function validateRows(): Stage<ParseItem[], CheckedItem[]> {
  return async function* validate(chunks) {
    for await (const items of chunks) yield items.map((item) => (item.kind === 'parsed' ? validateRow(item) : item));
  };
}
