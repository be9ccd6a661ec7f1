import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { ScimError, invalidValue } from '../scim/errors.js';
import {
  findResourceType,
  findSchema,
  resourceTypeDocument,
  resourceTypeList,
  schemaDocument,
  schemaList,
  serviceProviderConfig,
} from '../scim/discovery.js';
import { ScimGroups } from '../scim/groups.js';
import { readPage } from '../scim/paging.js';
import type { DirectoryGroups, DirectoryUsers } from '../scim/ports.js';
import { readProjection } from '../scim/projection.js';
import { versionTag } from '../scim/resources.js';
import { GROUP_RESOURCE, USER_RESOURCE } from '../scim/schema/definitions.js';
import { ScimUsers, type Rendered } from '../scim/users.js';
import { utf8JsonParser } from './encoding.js';
import { changeContext } from './users.routes.js';
import { SCIM_CONTENT_TYPE, SCIM_PREFIX, scimErrorBody } from './scim-errors.js';

/** The directory SCIM provisions into; the composition root adapts the users and groups services to it. */
export interface ScimDirectory {
  readonly users: DirectoryUsers;
  readonly groups: DirectoryGroups;
}

const ACCESS = { access: 'scim' } as const;
// SCIM has its own discovery (/ServiceProviderConfig, /Schemas): its routes stay out of /openapi.json.
const HIDDEN = { hide: true } as const;

/** The methods answered with 405 where a path exists but does not take them (HEAD and OPTIONS left to Fastify and CORS). */
const METHODS: readonly HTTPMethods[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

type Query = Record<string, unknown>;

/**
 * SCIM 2.0 (RFC 7644) at /scim/v2: discovery, /Users and /Groups. Registered with
 * `{ prefix: SCIM_PREFIX }`; errors are answered as SCIM errors by the app's error handler
 * (http/scim-errors.ts), unknown paths by this plugin's not-found handler.
 */
export function scimRoutes(directory: ScimDirectory) {
  const users = new ScimUsers(directory.users);
  const groups = new ScimGroups(directory.groups);
  return async function scim(app: FastifyInstance): Promise<void> {
    // application/json is parsed by the app; SCIM's own media type the same way (UTF-8 checked).
    app.addContentTypeParser('application/scim+json', { parseAs: 'buffer' }, utf8JsonParser(app.getDefaultJsonParser('error', 'error')));

    const paths = new Map<string, HTTPMethods[]>();
    const route = (method: HTTPMethods, url: string, handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => {
      paths.set(url, [...(paths.get(url) ?? []), method]);
      app.route({ method, url, config: ACCESS, schema: HIDDEN, handler });
    };
    const base = (request: FastifyRequest) => `${request.protocol}://${request.host}${SCIM_PREFIX}`;
    const send = (reply: FastifyReply, status: number, body: unknown) => reply.code(status).type(SCIM_CONTENT_TYPE).send(body);
    const sendResource = (reply: FastifyReply, status: number, rendered: Rendered) =>
      send(reply.header('etag', versionTag(rendered.version)), status, rendered.body);

    route('GET', '/ServiceProviderConfig', async (request, reply) => send(reply, 200, serviceProviderConfig(base(request))));
    route('GET', '/ResourceTypes', async (request, reply) => send(reply, 200, resourceTypeList(base(request))));
    route('GET', '/ResourceTypes/:id', async (request, reply) => {
      const type = findResourceType((request.params as { id: string }).id);
      if (type === undefined) throw new ScimError('not_found', undefined, 'No such resource type.');
      return send(reply, 200, resourceTypeDocument(type, base(request)));
    });
    route('GET', '/Schemas', async (request, reply) => send(reply, 200, schemaList(base(request))));
    route('GET', '/Schemas/:id', async (request, reply) => {
      const schema = findSchema((request.params as { id: string }).id);
      if (schema === undefined) throw new ScimError('not_found', undefined, 'No such schema.');
      return send(reply, 200, schemaDocument(schema, base(request)));
    });

    for (const [endpoint, resource, service] of [
      ['/Users', USER_RESOURCE, users],
      ['/Groups', GROUP_RESOURCE, groups],
    ] as const) {
      route('GET', endpoint, async (request, reply) => {
        const query = request.query as Query;
        const page = readPage(param(query, 'startIndex'), param(query, 'count'));
        const projection = readProjection(resource, param(query, 'attributes'), param(query, 'excludedAttributes'));
        return send(reply, 200, await service.list(param(query, 'filter'), page, base(request), projection, changeContext(request)));
      });
      route('POST', endpoint, async (request, reply) => {
        const rendered = await service.create(request.body, base(request), changeContext(request));
        const location = (rendered.body.meta as { location: string }).location;
        return sendResource(reply.header('location', location), 201, rendered);
      });
      route('GET', `${endpoint}/:id`, async (request, reply) => {
        const query = request.query as Query;
        const projection = readProjection(resource, param(query, 'attributes'), param(query, 'excludedAttributes'));
        return sendResource(reply, 200, await service.get(idOf(request), base(request), projection, changeContext(request)));
      });
      route('PUT', `${endpoint}/:id`, async (request, reply) =>
        sendResource(
          reply,
          200,
          await service.replace(idOf(request), request.body, ifMatch(request), base(request), changeContext(request)),
        ),
      );
      route('PATCH', `${endpoint}/:id`, async (request, reply) =>
        sendResource(reply, 200, await service.patch(idOf(request), request.body, ifMatch(request), base(request), changeContext(request))),
      );
      route('DELETE', `${endpoint}/:id`, async (request, reply) => {
        await service.delete(idOf(request), ifMatch(request), changeContext(request));
        return reply.code(204).send();
      });
    }

    for (const [url, allowed] of paths) {
      const others = METHODS.filter((m) => !allowed.includes(m));
      app.route({
        method: others,
        url,
        config: ACCESS,
        schema: HIDDEN,
        handler: async (request, reply) =>
          send(
            reply.header('allow', allowed.join(', ')),
            405,
            scimErrorBody(405, `${request.method} is not allowed on ${SCIM_PREFIX}${url}.`),
          ),
      });
    }

    app.setNotFoundHandler({ preHandler: app.rateLimit() }, (request, reply) =>
      send(reply, 404, scimErrorBody(404, `No SCIM endpoint at ${request.url.split('?')[0]}.`)),
    );
  };
}

/** One query parameter as a string; repeated parameters are refused rather than guessed between. */
function param(query: Query, name: string): string | undefined {
  const key = Object.keys(query).find((k) => k.toLowerCase() === name.toLowerCase());
  const value = key === undefined ? undefined : query[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidValue(`"${name}" may be given once.`);
  return value;
}

function idOf(request: FastifyRequest): string {
  return (request.params as { id: string }).id;
}

/**
 * If-Match under weak comparison (SCIM versions are weak tags, W/"3"): the versions it lists,
 * `*`, or undefined without the header. A header naming no version of ours lists none (412).
 */
function ifMatch(request: FastifyRequest): readonly number[] | '*' | undefined {
  const header = request.headers['if-match'];
  if (header === undefined) return undefined;
  if (header.trim() === '*') return '*';
  return header
    .split(',')
    .map((t) => /^(?:W\/)?"(\d{1,15})"$/.exec(t.trim())?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number);
}
