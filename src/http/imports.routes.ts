import { Readable } from 'node:stream';
import Type from 'typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ImportNotFoundError } from '../imports/errors.js';
import { UUID_V7_PATTERN } from '../kit/uuid.js';
import { UnsupportedMediaTypeError } from './media-type.js';
import { acceptUpload, cancelImport } from './import-actions.js';
import type { ExportOptions } from '../imports/export/export.js';
import { jobDocument, type ImportJob } from '../imports/jobs/job.js';
import { formatRowErrors } from '../imports/jobs/report.js';
import type { ImportRunner } from '../imports/jobs/runner.js';
import type { ImportService } from '../imports/service.js';
import { problemResponses } from './schemas.js';
import { component } from './openapi.js';
import { USER_EXAMPLE } from './users.routes.js';

/** What the import routes need; optional in buildApp so apps without imports still build. */
export interface ImportsHttp {
  readonly service: ImportService;
  readonly runner: ImportRunner;
  /** Where uploads are spooled (ROSTER_IMPORT_DIR). */
  readonly spoolDir: string;
  /** ROSTER_IMPORT_MAX_BYTES. */
  readonly maxBytes: number;
  /** ROSTER_IMPORT_UPLOAD_TIMEOUT_MS: the whole body must arrive within it. */
  readonly uploadTimeoutMs: number;
  /** ROSTER_IMPORT_UPLOAD_IDLE_MS: the body must not stall longer than this. */
  readonly uploadIdleMs: number;
  readonly exportUsers: (options: ExportOptions) => AsyncGenerator<string, void, undefined>;
}

const CSV = 'text/csv';
const NDJSON = 'application/x-ndjson';

const JobId = Type.String({
  pattern: UUID_V7_PATTERN,
  description: 'the import id (a UUIDv7)',
  examples: ['0193a1e0-7f2b-7c3d-9e4f-5a6b7c8d9e0f'],
});
const IdParams = Type.Object({ id: JobId });

const JOB_EXAMPLE = {
  id: '0193a1e0-7f2b-7c3d-9e4f-5a6b7c8d9e0f',
  status: 'running',
  format: 'csv',
  mode: 'upsert',
  events: 'per-user',
  dry_run: false,
  source: 'upload',
  total_bytes: 48_211_903,
  counts: { read: 120_000, created: 118_950, updated: 1_000, skipped: 38, failed: 12 },
  errors_kept: 12,
  committed_line: 120_001,
  error: null,
  created_at: '2025-11-20T16:40:02.511Z',
  started_at: '2025-11-20T16:40:03.020Z',
  finished_at: null,
  progress: { bytes_read: 25_165_824, rows_read: 121_880, rows_failed: 12 },
};

export const ImportJobSchema = component(
  'ImportJob',
  Type.Object(
    {
      id: Type.String(),
      status: Type.String({ description: 'pending, running, succeeded, failed or cancelled' }),
      format: Type.String({ description: 'csv or ndjson' }),
      mode: Type.String({ description: 'create or upsert' }),
      events: Type.String({ description: 'per-user or summary' }),
      dry_run: Type.Boolean(),
      source: Type.String(),
      total_bytes: Type.Union([Type.Integer(), Type.Null()]),
      counts: Type.Object({
        read: Type.Integer(),
        created: Type.Integer(),
        updated: Type.Integer(),
        skipped: Type.Integer(),
        failed: Type.Integer(),
      }),
      errors_kept: Type.Integer({ description: 'row errors stored for download (at most 100,000; the rest are only counted)' }),
      committed_line: Type.Integer({ description: 'the last file line of the last committed batch' }),
      error: Type.Union([Type.String(), Type.Null()]),
      created_at: Type.String({ format: 'date-time' }),
      started_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
      finished_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
      progress: Type.Union(
        [Type.Object({ bytes_read: Type.Integer(), rows_read: Type.Integer(), rows_failed: Type.Integer() }), Type.Null()],
        { description: 'live progress while it runs on the instance that answers; null otherwise' },
      ),
    },
    { description: 'An import job: its settings, counts and progress' },
  ),
  JOB_EXAMPLE,
);

const CSV_USERS_EXAMPLE =
  'email,name,attributes\r\nada@example.com,Ada Lovelace,"{""department"":""research""}"\r\ngrace@example.com,Grace Hopper,{}\r\n';
const NDJSON_USERS_EXAMPLE =
  '{"email":"ada@example.com","name":"Ada Lovelace","attributes":{"department":"research"}}\n{"email":"grace@example.com","name":"Grace Hopper"}\n';

const CreateQuery = Type.Object(
  {
    format: Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('ndjson')], { description: 'default: from the content type' })),
    mode: Type.Optional(
      Type.Union([Type.Literal('create'), Type.Literal('upsert')], {
        default: 'create',
        description: 'create: a row whose email exists fails; upsert: it updates that user',
      }),
    ),
    events: Type.Optional(
      Type.Union([Type.Literal('per-user'), Type.Literal('summary')], {
        default: 'per-user',
        description: 'a user.created/user.updated event per row written, or one users.imported event for the whole run',
      }),
    ),
    dry_run: Type.Optional(Type.Boolean({ default: false, description: 'check every row, write nothing' })),
    ignore_unknown: Type.Optional(
      Type.Boolean({ default: false, description: 'ignore unknown columns or fields instead of refusing the file' }),
    ),
  },
  { additionalProperties: false },
);

const ExportQuery = Type.Object(
  {
    format: Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('ndjson')], { default: 'csv', description: 'the file format' })),
    since: Type.Optional(
      Type.String({ format: 'date-time', description: 'only users changed at or after this time', examples: ['2025-11-01T00:00:00.000Z'] }),
    ),
  },
  { additionalProperties: false },
);

/** The named schemas these routes reference (added to the app's root by buildApp()). */
export const IMPORTS_SCHEMAS = [ImportJobSchema.schema];

/** /v1/imports (upload, status, cancel, row errors) and GET /v1/users/export. */
export function importsRoutes(deps: ImportsHttp) {
  return async function register(app: FastifyInstance): Promise<void> {
    // The body stays a stream: the file goes to disk as it arrives, never into memory, and the
    // JSON body limit does not apply (ROSTER_IMPORT_MAX_BYTES does, counted while spooling).
    app.addContentTypeParser([CSV, NDJSON], (_request, payload, done) => done(null, payload));
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    const document = (job: ImportJob) => {
      const live = job.status === 'running' ? deps.runner.progress(job.id) : undefined;
      return {
        ...jobDocument(job),
        progress: live === undefined ? null : { bytes_read: live.bytes, rows_read: live.read, rows_failed: live.failed },
      };
    };
    const find = async (id: string, signal: AbortSignal): Promise<ImportJob> => {
      const job = await deps.service.get(id, signal);
      if (job === undefined) throw new ImportNotFoundError(`No import job has id ${id}.`);
      return job;
    };

    r.post(
      '/v1/imports',
      {
        // The body is read by the handler, under the upload's own limits (overall and idle)
        // instead of the request deadline and the slow-body guard: large files take minutes.
        config: {
          access: 'imports:write',
          bodyTimeoutMs: deps.uploadTimeoutMs,
          docs: {
            upload: {
              description: 'The file: CSV with a header row (email, name, attributes as JSON) or NDJSON, one user per line',
              media: { [CSV]: { example: CSV_USERS_EXAMPLE }, [NDJSON]: { example: NDJSON_USERS_EXAMPLE } },
            },
            responses: { 202: { description: 'The job, queued; poll Location for its progress', headers: ['Location'] } },
            problems: ['validation', 'unsupported-media-type', 'body-too-large', 'upload-timeout', 'invalid-import-file'],
          },
        },
        schema: {
          operationId: 'createImport',
          tags: ['imports'],
          summary: 'Upload a CSV or NDJSON file and import it in the background',
          description:
            'The file is spooled to disk as it arrives, then imported in batches; rows that fail are counted and kept for download.',
          querystring: CreateQuery,
          response: { 202: ImportJobSchema.ref, ...problemResponses },
        },
      },
      async (request, reply) => {
        if (!(request.body instanceof Readable)) throw new UnsupportedMediaTypeError(`Send the file as ${CSV} or ${NDJSON}.`);
        const job = await acceptUpload(
          deps,
          request.body,
          {
            format: request.query.format ?? (request.headers['content-type']?.startsWith(NDJSON) ? 'ndjson' : 'csv'),
            mode: request.query.mode ?? 'create',
            events: request.query.events ?? 'per-user',
            dryRun: request.query.dry_run ?? false,
            ignoreUnknown: request.query.ignore_unknown ?? false,
            actor: request.principal?.actor,
            declaredBytes: Number(request.headers['content-length'] ?? 0),
          },
          { signal: request.deadline.signal, reply },
        );
        return reply.code(202).header('location', `/v1/imports/${job.id}`).send(document(job));
      },
    );

    r.get(
      '/v1/imports/:id',
      {
        config: {
          access: 'imports:write',
          docs: { responses: { 200: { description: 'The job' } }, problems: ['validation', 'import-not-found'] },
        },
        schema: {
          operationId: 'getImport',
          tags: ['imports'],
          summary: 'Status, counts and progress of an import',
          description: 'Poll until status is succeeded, failed or cancelled.',
          params: IdParams,
          response: { 200: ImportJobSchema.ref, ...problemResponses },
        },
      },
      async (request) => document(await find(request.params.id, request.deadline.signal)),
    );

    r.delete(
      '/v1/imports/:id',
      {
        config: {
          access: 'imports:write',
          docs: {
            responses: { 200: { description: 'The job, cancelled (or as it ended)' } },
            problems: ['validation', 'import-not-found', 'import-job-leased'],
          },
        },
        schema: {
          operationId: 'cancelImport',
          tags: ['imports'],
          summary: 'Cancel an import',
          description:
            'The batch in progress rolls back; committed batches stay (see committed_line). 409 `import-job-leased` when another instance is running it.',
          params: IdParams,
          response: { 200: ImportJobSchema.ref, ...problemResponses },
        },
      },
      async (request) => {
        const job = await find(request.params.id, request.deadline.signal);
        await cancelImport(deps, job, request.deadline.signal);
        return document(await find(job.id, request.deadline.signal));
      },
    );

    r.get(
      '/v1/imports/:id/errors',
      {
        config: {
          access: 'imports:write',
          docs: {
            responses: {
              200: {
                description: 'Every kept row error, in line order (a download)',
                headers: ['Content-Disposition'],
                media: {
                  [CSV]: { example: 'line,field,reason\r\n14,email,must look like name@example.com\r\n', description: 'line,field,reason' },
                  [NDJSON]: {
                    example: '{"line":14,"field":"email","reason":"must look like name@example.com"}\n',
                    description: 'one {line, field, reason} per line',
                  },
                },
              },
            },
            problems: ['validation', 'import-not-found'],
          },
        },
        schema: {
          operationId: 'getImportErrors',
          tags: ['imports'],
          summary: 'The row errors of an import',
          description: 'line, field and reason of each failed row: CSV, or NDJSON with Accept: application/x-ndjson.',
          params: IdParams,
        },
      },
      async (request, reply) => {
        const job = await find(request.params.id, request.deadline.signal);
        const format = request.headers.accept?.includes(NDJSON) ? 'ndjson' : 'csv';
        const stop = closeSignal(reply);
        const text = formatRowErrors(format)(deps.service.rowErrors(job.id, stop));
        return reply
          .type(format === 'csv' ? `${CSV}; charset=utf-8` : NDJSON)
          .header('content-disposition', `attachment; filename="import-${job.id}-errors.${format}"`)
          .send(Readable.from(text));
      },
    );

    r.get(
      '/v1/users/export',
      {
        config: {
          access: 'users:read',
          docs: {
            responses: {
              200: {
                description: 'The users, streamed (a download)',
                headers: ['Content-Disposition'],
                media: {
                  [CSV]: {
                    example:
                      'id,email,name,given_name,family_name,external_id,active,attributes,profile\r\n' +
                      '01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21,ada@example.com,Ada Lovelace,Ada,Lovelace,00u1ab2cd3EF4gh5i6j7,true,' +
                      '"{""favourite_engine"":""analytical""}","{""title"":""Analyst""}"\r\n',
                    description: 'id,email,name,given_name,family_name,external_id,active (true/false),attributes (JSON),profile (JSON)',
                  },
                  [NDJSON]: {
                    example: `${JSON.stringify(USER_EXAMPLE)}\n`,
                    description: 'one user per line, as GET /v1/users/{id} returns it',
                  },
                },
              },
            },
            problems: ['validation'],
          },
        },
        schema: {
          operationId: 'exportUsers',
          tags: ['users'],
          summary: 'Export every user as CSV or NDJSON',
          description: 'Every user (or those changed since a time), from one consistent snapshot, streamed.',
          querystring: ExportQuery,
        },
      },
      async (request, reply) => {
        const format = request.query.format ?? 'csv';
        const since = request.query.since === undefined ? undefined : new Date(request.query.since);
        const text = deps.exportUsers({ format, since, signal: closeSignal(reply) });
        return reply
          .type(format === 'csv' ? `${CSV}; charset=utf-8` : NDJSON)
          .header('content-disposition', `attachment; filename="users.${format}"`)
          .send(Readable.from(text));
      },
    );
  };
}

/** Aborts when the response is finished or the client goes away, so a streamed body stops reading. */
function closeSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => controller.abort(new Error('the response closed')));
  return controller.signal;
}
