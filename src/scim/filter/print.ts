import type { AttrPath, Filter, Literal, PatchPath } from './ast.js';

/** The text of a filter, with the parentheses its shape needs and no others: parseFilter(printFilter(f)) ≡ f. */
export function printFilter(filter: Filter): string {
  switch (filter.kind) {
    case 'compare':
      return `${printAttrPath(filter.path)} ${filter.op} ${printLiteral(filter.value)}`;
    case 'present':
      return `${printAttrPath(filter.path)} pr`;
    case 'not':
      return `not (${printFilter(filter.filter)})`;
    case 'valuePath':
      return `${printAttrPath(filter.path)}[${printFilter(filter.filter)}]`;
    case 'and':
      // Both operators are left-associative: a right operand of the same (or looser) kind needs parentheses.
      return `${group(filter.left, filter.left.kind === 'or')} and ${group(filter.right, filter.right.kind === 'and' || filter.right.kind === 'or')}`;
    case 'or':
      return `${printFilter(filter.left)} or ${group(filter.right, filter.right.kind === 'or')}`;
  }
}

export function printPatchPath(path: PatchPath): string {
  if (path.kind === 'attr') return printAttrPath(path.path);
  return `${printAttrPath(path.path)}[${printFilter(path.filter)}]${path.sub === undefined ? '' : `.${path.sub}`}`;
}

export function printAttrPath(path: AttrPath): string {
  return `${path.uri === undefined ? '' : `${path.uri}:`}${path.name}${path.sub === undefined ? '' : `.${path.sub}`}`;
}

function printLiteral(value: Literal): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function group(filter: Filter, needed: boolean): string {
  return needed ? `(${printFilter(filter)})` : printFilter(filter);
}
