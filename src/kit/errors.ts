/**
 * The base of every error Roster raises on purpose. Each subclass carries a stable `code`
 * from a closed catalogue; the HTTP edge (src/http/problem.ts) maps each code to a status and
 * a problem type exactly once, so business code never knows about HTTP.
 */
export abstract class AppError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One rejected input field, located by an RFC 6901 JSON Pointer into the request. */
export interface FieldError {
  readonly pointer: string;
  readonly message: string;
}

/** Input broke one or more rules; every broken rule is listed, not just the first. */
export class ValidationError extends AppError {
  readonly code = 'validation';
  readonly errors: readonly FieldError[];

  constructor(errors: readonly FieldError[], message = 'The request has invalid fields.') {
    super(message);
    this.errors = errors;
  }
}

/** A storage dependency failed or timed out; the caller may retry later. */
export class UnavailableError extends AppError {
  readonly code = 'unavailable';
}

/** Collects field errors so a parser can report all of them at once. */
export class FieldErrors {
  readonly #errors: FieldError[] = [];

  add(pointer: string, message: string): void {
    this.#errors.push({ pointer, message });
  }

  /** What was added so far, in order. */
  list(): FieldError[] {
    return [...this.#errors];
  }

  /** Throws a ValidationError if anything was added. */
  throwIfAny(): void {
    if (this.#errors.length > 0) throw new ValidationError(this.#errors);
  }
}

/** RFC 6901 escaping of one pointer segment. */
export function pointerSegment(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}
