// Holds every response the API tests receive to the OpenAPI document the app serves: the status
// is declared, the media type is one the status declares, the headers that carry meaning are
// documented for it, and a JSON body matches its schema. Installed once, on the apps the test
// helpers build (test/helpers/app.ts), so every app.inject of every API test is checked.
import assert from 'node:assert/strict';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { Build } from 'typebox/schema';
import { Errors } from 'typebox/schema';

interface MediaObject {
  readonly schema?: object;
}
interface ResponseObject {
  readonly headers?: Readonly<Record<string, unknown>>;
  readonly content?: Readonly<Record<string, MediaObject>>;
}
interface Operation {
  readonly operationId?: string;
  readonly responses: Readonly<Record<string, ResponseObject>>;
}
export interface OpenApiDocument {
  readonly paths: Readonly<Record<string, Readonly<Record<string, Operation>>>>;
  readonly components?: { readonly schemas?: Readonly<Record<string, object>> };
}

/** Headers a client acts on: when a response carries one, the document must describe it there. */
const MEANINGFUL_HEADERS = [
  'etag',
  'location',
  'idempotent-replayed',
  'retry-after',
  'www-authenticate',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'content-disposition',
  'x-request-id',
];

/** What was seen of one exchange. */
export interface Exchange {
  readonly method: string;
  /** The request URL, path and query. */
  readonly url: string;
  readonly status: number;
  header(name: string): string | undefined;
  readonly body: string;
}

type Check = (value: unknown) => string | undefined;

/** The document's operations, matched by method and path, with their body checks compiled once. */
export class Contract {
  readonly #document: OpenApiDocument;
  readonly #routes: { readonly pattern: RegExp; readonly template: string }[];
  readonly #checks = new Map<string, Check>();

  constructor(document: OpenApiDocument) {
    this.#document = document;
    // Literal segments win over parameters (/v1/users/export before /v1/users/{id}), as in the router.
    this.#routes = Object.keys(document.paths)
      .map((template) => ({
        template,
        pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
      }))
      .sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0));
  }

  /** The operation serving `method path`, or undefined when the document has none (unknown routes: 404s of the router). */
  operation(method: string, url: string): { template: string; operation: Operation } | undefined {
    const path = url.split('?')[0] ?? url;
    const route = this.#routes.find((r) => r.pattern.test(path));
    if (route === undefined) return undefined;
    const operation = this.#document.paths[route.template]?.[method.toLowerCase()];
    return operation === undefined ? undefined : { template: route.template, operation };
  }

  /** What in this exchange the document does not allow; [] when it conforms or is not an operation of the document. */
  violations(exchange: Exchange): string[] {
    if (exchange.method === 'HEAD' || exchange.method === 'OPTIONS') return [];
    const found = this.operation(exchange.method, exchange.url);
    if (found === undefined) return [];
    const { template, operation } = found;
    const status = String(exchange.status);
    const declared = operation.responses[status] !== undefined ? status : `${status[0]}XX`;
    const response = operation.responses[declared] ?? operation.responses.default;
    const where = `${exchange.method} ${template} → ${status}`;
    if (response === undefined) return [`${where}: status not declared (declared: ${Object.keys(operation.responses).join(', ')})`];
    const problems: string[] = [];
    const documentedHeaders = new Set(Object.keys(response.headers ?? {}).map((h) => h.toLowerCase()));
    for (const name of MEANINGFUL_HEADERS) {
      if (exchange.header(name) !== undefined && !documentedHeaders.has(name)) problems.push(`${where}: header ${name} is not documented`);
    }
    if (exchange.header('x-request-id') === undefined) problems.push(`${where}: no X-Request-Id`);
    const media = (exchange.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const content = response.content ?? {};
    if (exchange.body.length === 0 && Object.keys(content).length === 0) return problems;
    if (Object.keys(content).length === 0) return [...problems, `${where}: a body (${media}) where none is declared`];
    const declaredMedia = content[media];
    if (declaredMedia === undefined)
      return [...problems, `${where}: media type ${media} not declared (${Object.keys(content).join(', ')})`];
    if ((media !== 'application/json' && !media.endsWith('+json')) || declaredMedia.schema === undefined) return problems;
    let value: unknown;
    try {
      value = JSON.parse(exchange.body);
    } catch {
      return [...problems, `${where}: ${media} body is not JSON`];
    }
    const failure = this.#check(`${exchange.method} ${template} ${declared} ${media}`, declaredMedia.schema)(value);
    return failure === undefined ? problems : [...problems, `${where}: body does not match the schema: ${failure}`];
  }

  #check(key: string, schema: object): Check {
    let check = this.#checks.get(key);
    if (check === undefined) {
      // The operation's schema with the document's components beside it, so #/components/... resolves.
      const root = { ...schema, components: this.#document.components ?? {} };
      const compiled = Build({}, root as never).Evaluate();
      check = (value) => {
        if (compiled.Check(value)) return undefined;
        const [, errors] = Errors({}, root, value);
        return JSON.stringify(errors.slice(0, 3)).slice(0, 1000);
      };
      this.#checks.set(key, check);
    }
    return check;
  }
}

/**
 * Makes every `app.inject` of `app` fail (an AssertionError naming what differs) when its
 * response does not match the document the app serves. The document is read once, from the
 * app itself, the first time a request is made.
 */
export function checkedAgainstContract(app: FastifyInstance): void {
  const inject = app.inject.bind(app);
  let contract: Contract | undefined;
  app.inject = (async (options?: InjectOptions | string) => {
    if (options === undefined || typeof options === 'string') return inject(options as InjectOptions);
    const response = await inject(options);
    contract ??= new Contract(app.swagger() as unknown as OpenApiDocument);
    const url = options.url ?? options.path ?? '/';
    const violations = contract.violations({
      method: (options.method ?? 'GET').toUpperCase(),
      url: typeof url === 'string' ? url : `${url.pathname ?? ''}`,
      status: response.statusCode,
      header: (name) => {
        const value = response.headers[name];
        return value === undefined ? undefined : Array.isArray(value) ? value.join(', ') : String(value);
      },
      body: response.body,
    });
    assert.deepEqual(violations, [], `the response breaks the OpenAPI document:\n${violations.join('\n')}`);
    return response;
  }) as FastifyInstance['inject'];
}
