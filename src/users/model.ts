import { FieldErrors, ValidationError, pointerSegment, type FieldError } from '../kit/errors.js';
import { isUuidV7 } from '../kit/uuid.js';
import { parseProfile, type Profile, type ProfileFields } from './profile.js';

export type { Profile } from './profile.js';

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A UUIDv7 string: time-ordered (so keyset pages are stable) and 74 random bits (so not guessable). */
export type UserId = Brand<string, 'UserId'>;
/** An email address that passed the syntax and RFC 5321 length rules; case preserved. */
export type Email = Brand<string, 'Email'>;
/** A display name: trimmed, NFC-normalised, 1–200 code points, no control characters. */
export type UserName = Brand<string, 'UserName'>;
/** Custom data: a JSON object within the size and depth caps. */
export type Attributes = Brand<Readonly<Record<string, unknown>>, 'Attributes'>;
/** An identity provider's id for the user: 1–255 characters, no control characters, compared exactly. */
export type ExternalId = Brand<string, 'ExternalId'>;

export interface User {
  readonly id: UserId;
  readonly email: Email;
  /** The display name. */
  readonly name: UserName;
  /** False: deactivated (a provider's `active: false`); the user stays readable and listable. */
  readonly active: boolean;
  readonly externalId: ExternalId | null;
  /** Parts of a structured name, by the rules of `name`. */
  readonly givenName: UserName | null;
  readonly familyName: UserName | null;
  readonly attributes: Attributes;
  /** Standard directory profile data (users/profile.ts), apart from the caller's own `attributes`. */
  readonly profile: Profile;
  /** Starts at 1 and grows by one on every change; the ETag is derived from it. */
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** The public JSON form of a user: the API's representation and the snapshot in its events. */
export interface UserDocument {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly given_name: string | null;
  readonly family_name: string | null;
  readonly external_id: string | null;
  readonly active: boolean;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly profile: Readonly<ProfileFields>;
  readonly version: number;
  readonly created_at: string;
  readonly updated_at: string;
}

export function toUserDocument(user: User): UserDocument {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    given_name: user.givenName,
    family_name: user.familyName,
    external_id: user.externalId,
    active: user.active,
    attributes: user.attributes,
    profile: user.profile,
    version: user.version,
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
  };
}

/** What a caller may set when creating a user, already parsed. */
export interface NewUser {
  readonly email: Email;
  readonly name: UserName;
  readonly active: boolean;
  readonly externalId: ExternalId | null;
  readonly givenName: UserName | null;
  readonly familyName: UserName | null;
  readonly attributes: Attributes;
  readonly profile: Profile;
}

/** The provisioning fields of a user who was given none (and of every user before migration 0011). */
export const PROVISIONING_DEFAULTS: Pick<NewUser, 'active' | 'externalId' | 'givenName' | 'familyName' | 'profile'> = Object.freeze({
  active: true,
  externalId: null,
  givenName: null,
  familyName: null,
  profile: Object.freeze({}) as Profile,
});

/** A create request's fields as the API and the import name them (snake_case), before parsing. */
export interface NewUserInput {
  readonly email: unknown;
  readonly name: unknown;
  readonly active?: unknown;
  readonly external_id?: unknown;
  readonly given_name?: unknown;
  readonly family_name?: unknown;
  readonly attributes?: unknown;
  readonly profile?: unknown;
}

export const NAME_MAX_CODE_POINTS = 200;
export const EMAIL_MAX_LENGTH = 254;
export const EMAIL_LOCAL_MAX_LENGTH = 64;
export const ATTRIBUTES_MAX_BYTES = 16 * 1024;
export const ATTRIBUTES_MAX_DEPTH = 4;
export const ATTRIBUTE_KEY_MAX_LENGTH = 100;
export const EXTERNAL_ID_MAX_CODE_POINTS = 255;

// RFC 5322 dot-atom of atext characters: no quoted local parts, no comments.
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
// RFC 1035 LDH labels, 1–63 characters, no leading or trailing hyphen.
const DOMAIN_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const CONTROL_CHARS = /[\p{Cc}\u2028\u2029]/u;

/**
 * The parse result for one field: a value, or the reason it was refused and, inside a structured
 * field, where (`at`, a JSON pointer relative to the field, such as `/emails/0/value`).
 */
export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string; at?: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(message: string): Parsed<T> => ({ ok: false, message });

export function parseUserId(input: string): Parsed<UserId> {
  return isUuidV7(input) ? ok(input as UserId) : fail('must be a user id (a lower-case UUIDv7)');
}

export function parseEmail(input: unknown): Parsed<Email> {
  if (typeof input !== 'string') return fail('must be a string');
  if (input.length === 0) return fail('must not be empty');
  if (input.length > EMAIL_MAX_LENGTH) return fail(`must be at most ${EMAIL_MAX_LENGTH} characters`);
  const at = input.lastIndexOf('@');
  if (at <= 0 || at === input.length - 1) return fail('must look like name@example.com');
  const local = input.slice(0, at);
  const domain = input.slice(at + 1);
  if (local.length > EMAIL_LOCAL_MAX_LENGTH) {
    return fail(`must have at most ${EMAIL_LOCAL_MAX_LENGTH} characters before the @`);
  }
  if (!LOCAL_PART.test(local)) return fail('has characters that are not allowed before the @');
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((l) => DOMAIN_LABEL.test(l))) {
    return fail('must have a domain such as example.com after the @');
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return fail('must not end in a numeric top-level domain');
  return ok(input as Email);
}

/** The one key under which text is compared (kit/fold-key.ts); users and groups share it. */
export { foldKey } from '../kit/fold-key.js';

export function parseUserName(input: unknown): Parsed<UserName> {
  if (typeof input !== 'string') return fail('must be a string');
  if (!input.isWellFormed()) return fail('must be valid Unicode text');
  const name = input.trim().normalize('NFC');
  if (name.length === 0) return fail('must not be empty');
  if (CONTROL_CHARS.test(name)) return fail('must not contain control characters');
  let codePoints = 0;
  for (const _ of name) codePoints++;
  if (codePoints > NAME_MAX_CODE_POINTS) return fail(`must be at most ${NAME_MAX_CODE_POINTS} characters`);
  return ok(name as UserName);
}

/** A given or family name: `null` clears it, anything else follows the rules of the display name. */
export function parseOptionalName(input: unknown): Parsed<UserName | null> {
  return input === null ? ok(null) : parseUserName(input);
}

/**
 * Not trimmed or normalised: a provider matches on the exact value it sent (SCIM `externalId`
 * is caseExact), so the stored text is that value. `null` means none.
 */
export function parseExternalId(input: unknown): Parsed<ExternalId | null> {
  if (input === null) return ok(null);
  if (typeof input !== 'string') return fail('must be a string or null');
  if (!input.isWellFormed()) return fail('must be valid Unicode text');
  if (input.length === 0) return fail('must not be empty (send null for none)');
  if (CONTROL_CHARS.test(input)) return fail('must not contain control characters');
  let codePoints = 0;
  for (const _ of input) codePoints++;
  if (codePoints > EXTERNAL_ID_MAX_CODE_POINTS) return fail(`must be at most ${EXTERNAL_ID_MAX_CODE_POINTS} characters`);
  return ok(input as ExternalId);
}

export function parseActive(input: unknown): Parsed<boolean> {
  return typeof input === 'boolean' ? ok(input) : fail('must be true or false');
}

export function parseAttributes(input: unknown): Parsed<Attributes> {
  if (!isPlainObject(input)) return fail('must be a JSON object');
  const problem = attributeProblem(input, 1);
  if (problem) return fail(problem);
  if (Buffer.byteLength(JSON.stringify(input)) > ATTRIBUTES_MAX_BYTES) {
    return fail(`must be at most ${ATTRIBUTES_MAX_BYTES} bytes as JSON`);
  }
  return ok(input as Attributes);
}

function attributeProblem(value: Record<string, unknown>, depth: number): string | undefined {
  if (depth > ATTRIBUTES_MAX_DEPTH) return `must not nest deeper than ${ATTRIBUTES_MAX_DEPTH} levels`;
  for (const [key, child] of Object.entries(value)) {
    if (key.length === 0 || key.length > ATTRIBUTE_KEY_MAX_LENGTH) {
      return `keys must be 1–${ATTRIBUTE_KEY_MAX_LENGTH} characters`;
    }
    if (!isStorableText(key)) return 'keys must be valid Unicode text without NUL characters';
    const nested = Array.isArray(child) ? child : [child];
    for (const item of nested) {
      if (typeof item === 'number' && !Number.isFinite(item)) return 'numbers must be finite';
      if (typeof item === 'string' && !isStorableText(item)) return 'strings must be valid Unicode text without NUL characters';
      if (isPlainObject(item)) {
        const problem = attributeProblem(item, depth + 1);
        if (problem) return problem;
      } else if (Array.isArray(item)) {
        return 'arrays must not contain arrays';
      }
    }
  }
  return undefined;
}

/**
 * Text every supported database can store: PostgreSQL refuses NUL in text and jsonb, and
 * lone surrogates have no UTF-8 encoding.
 */
export function isStorableText(text: string): boolean {
  return text.isWellFormed() && !text.includes('\u0000');
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses a create request, reporting every broken rule together.
 * @throws ValidationError
 */
export function parseNewUser(input: NewUserInput): NewUser {
  const errors = new FieldErrors();
  const email = field(errors, 'email', parseEmail(input.email));
  const name = field(errors, 'name', parseUserName(input.name));
  const active = field(errors, 'active', parseActive(input.active ?? true));
  const externalId = field(errors, 'external_id', parseExternalId(input.external_id ?? null));
  const givenName = field(errors, 'given_name', parseOptionalName(input.given_name ?? null));
  const familyName = field(errors, 'family_name', parseOptionalName(input.family_name ?? null));
  const attributes = field(errors, 'attributes', parseAttributes(input.attributes ?? {}));
  const profile = field(errors, 'profile', parseProfile(input.profile ?? {}));
  errors.throwIfAny();
  return {
    email: email!,
    name: name!,
    active: active!,
    externalId: externalId!,
    givenName: givenName!,
    familyName: familyName!,
    attributes: attributes!,
    profile: profile!,
  };
}

/** The rule violations of a create request, without throwing: for merging with schema errors. */
export function newUserFieldErrors(input: unknown): FieldError[] {
  if (!isPlainObject(input)) return [];
  try {
    parseNewUser(input as unknown as NewUserInput);
    return [];
  } catch (error) {
    if (error instanceof ValidationError) return [...error.errors];
    throw error;
  }
}

/** Records a failed parse under its pointer and returns the value when it passed. */
export function field<T>(errors: FieldErrors, name: string, parsed: Parsed<T>): T | undefined {
  if (parsed.ok) return parsed.value;
  errors.add(`/${pointerSegment(name)}${parsed.at ?? ''}`, parsed.message);
  return undefined;
}
