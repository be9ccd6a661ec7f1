import { ValidationError, type FieldError } from '../../kit/errors.js';
import { ImportFileError } from '../errors.js';
import { IMPORT_FIELDS, REQUIRED_FIELDS, isImportField, type ImportField } from './rows.js';

/** How the names in a file (CSV header cells, NDJSON keys) become import fields. */
export interface ColumnOptions {
  /** `--map col=field`: read the column or key `col` as `field`. */
  readonly map?: Readonly<Record<string, ImportField>>;
  /** `--ignore-unknown`: skip names that are neither fields nor mapped, instead of refusing them. */
  readonly ignoreUnknown?: boolean;
}

/** Turns names into fields; `undefined` means the name is ignored. */
export class ColumnResolver {
  readonly #map: ReadonlyMap<string, ImportField>;
  readonly #ignoreUnknown: boolean;

  constructor(options: ColumnOptions = {}) {
    this.#map = new Map(Object.entries(options.map ?? {}));
    this.#ignoreUnknown = options.ignoreUnknown ?? false;
  }

  /** The field `name` is read as, `undefined` to skip it, or `'unknown'` when it must be refused. */
  fieldOf(name: string): ImportField | undefined | 'unknown' {
    const mapped = this.#map.get(name);
    if (mapped !== undefined) return mapped;
    if (isImportField(name)) return name;
    return this.#ignoreUnknown ? undefined : 'unknown';
  }

  /** The names `--map` mentions, to find the ones a CSV header lacks. */
  mappedNames(): Iterable<string> {
    return this.#map.keys();
  }
}

export const UNKNOWN_NAME_REASON = `is not a known field (${IMPORT_FIELDS.join(', ')}); map it with --map or skip it with --ignore-unknown`;

/**
 * Checks a CSV header and returns, per column, the field it holds (`undefined`: ignored).
 * Every problem is listed in one ImportFileError: missing required columns, duplicates,
 * unknown columns, `--map` entries naming columns the header lacks.
 */
export function resolveHeader(header: readonly string[], resolver: ColumnResolver): (ImportField | undefined)[] {
  const problems: string[] = [];
  const columnOf = new Map<ImportField, string>();
  const seen = new Set<string>();
  const fields = header.map((name, index) => {
    if (name === '') {
      problems.push(`column ${index + 1} has no name`);
      return undefined;
    }
    if (seen.has(name)) problems.push(`column ${JSON.stringify(name)} appears more than once`);
    seen.add(name);
    const field = resolver.fieldOf(name);
    if (field === 'unknown') {
      problems.push(`column ${JSON.stringify(name)} ${UNKNOWN_NAME_REASON}`);
      return undefined;
    }
    if (field === undefined) return undefined;
    const other = columnOf.get(field);
    if (other !== undefined && other !== name)
      problems.push(`columns ${JSON.stringify(other)} and ${JSON.stringify(name)} are both ${field}`);
    columnOf.set(field, name);
    return field;
  });
  for (const name of resolver.mappedNames()) {
    if (!seen.has(name)) problems.push(`--map names column ${JSON.stringify(name)}, which the header does not have`);
  }
  for (const field of REQUIRED_FIELDS) {
    if (!columnOf.has(field)) problems.push(`the required column ${field} is missing`);
  }
  if (problems.length > 0) throw new ImportFileError('header', `the header row is not usable: ${problems.join('; ')}`, { line: 1 });
  return fields;
}

/**
 * Parses `--map` values (`column=field`, the column name may itself contain `=` before the
 * last one).
 * @throws ValidationError naming each bad entry by its index
 */
export function parseColumnMap(specs: readonly string[]): Record<string, ImportField> {
  const map: Record<string, ImportField> = Object.create(null) as Record<string, ImportField>;
  const errors: FieldError[] = [];
  specs.forEach((spec, index) => {
    const at = spec.lastIndexOf('=');
    const column = spec.slice(0, Math.max(at, 0));
    const field = spec.slice(at + 1);
    if (at <= 0) errors.push({ pointer: `/map/${index}`, message: 'must look like column=field' });
    else if (!isImportField(field)) errors.push({ pointer: `/map/${index}`, message: `must map to one of ${IMPORT_FIELDS.join(', ')}` });
    else if (Object.hasOwn(map, column)) errors.push({ pointer: `/map/${index}`, message: `maps column ${JSON.stringify(column)} twice` });
    else map[column] = field;
  });
  if (errors.length > 0) throw new ValidationError(errors, 'The column map has invalid entries.');
  return map;
}
