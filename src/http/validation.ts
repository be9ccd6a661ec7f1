import type { FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Build, Errors } from 'typebox/schema';

/**
 * Request validation with TypeBox's compiled checker, stricter than the stock compiler:
 * query, path and header values are strings on the wire, and only those that are whole
 * decimal numbers become integers where the schema says integer, and only `true` and `false`
 * become booleans where it says boolean. `limit=2.5`, `limit=1e1` or `dry_run=1` stay strings
 * and fail the check, instead of being silently rounded or guessed by a general converter.
 * Bodies are checked as sent. Schema defaults are not applied: handlers own their defaults.
 *
 * It uses `typebox/schema` (the checker builder and error reporter) rather than `typebox/compile`:
 * `Compile` wraps the same two calls in a Validator that also imports TypeBox's whole value tree
 * (Clean, Convert, Decode, ...), ~150 modules Roster never runs, resident for the process's life.
 */
export const strictValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = Build({}, schema).Evaluate();
  const integers = httpPart === 'body' ? [] : propertiesOfType(schema, 'integer');
  const booleans = httpPart === 'body' ? [] : propertiesOfType(schema, 'boolean');
  return (value: unknown) => {
    const candidate = integers.length > 0 || booleans.length > 0 ? withTypes(value, integers, booleans) : value;
    if (check.Check(candidate)) return { value: candidate };
    const [, errors] = Errors({}, schema, candidate);
    return { error: errors as unknown as Error };
  };
};

function propertiesOfType(schema: TSchema, type: 'integer' | 'boolean'): string[] {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  return Object.entries(properties)
    .filter(([, property]) => property.type === type)
    .map(([name]) => name);
}

const WHOLE_NUMBER = /^-?(0|[1-9][0-9]{0,14})$/;

function withTypes(value: unknown, integers: readonly string[], booleans: readonly string[]): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  const copy: Record<string, unknown> = { ...record };
  for (const name of integers) {
    const raw = record[name];
    if (typeof raw === 'string' && WHOLE_NUMBER.test(raw)) copy[name] = Number(raw);
  }
  for (const name of booleans) {
    const raw = record[name];
    if (raw === 'true' || raw === 'false') copy[name] = raw === 'true';
  }
  return copy;
}
