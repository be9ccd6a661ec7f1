import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Type from 'typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { v7 as uuidv7 } from 'uuid';
import { ImportNotFoundError, ImportQueueFullError, ImportTooLargeError } from '../imports/errors.js';
import { UnsupportedMediaTypeError } from './media-type.js';
import type { ExportOptions } from '../imports/export.js';
import { jobDocument, type ImportJob } from '../imports/job.js';
import { formatRowErrors } from '../imports/report.js';
import type { ImportRunner } from '../imports/runner.js';
import type { ImportService } from '../imports/service.js';
import { problemResponses } from './schemas.js';

/** What the import routes need; optional in buildApp so apps without imports still build. */
export interface ImportsHttp {
  readonly service: ImportService;
  readonly runner: ImportRunner;
  /** Where uploads are spooled (ROSTER_IMPORT_DIR). */
  readonly spoolDir: string;
  /** ROSTER_IMPORT_MAX_BYTES. */
  readonly maxBytes: number;
  readonly exportUsers: (options: ExportOptions) => AsyncGenerator<string, void, undefined>;
}

const CSV = 'text/csv';
const NDJSON = 'application/x-ndjson';

const JobId = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$', description: 'UUIDv7' });
const IdParams = Type.Object({ id: JobId });

const Counts = Type.Object({
  read: Type.Integer(),
  created: Type.Integer(),
  updated: Type.Integer(),
  skipped: Type.Integer(),
  failed: Type.Integer(),
});
const JobSchema = Type.Object({
  id: Type.String(),
  status: Type.String({ description: 'pending, running, succeeded, failed or cancelled' }),
  format: Type.String(),
  mode: Type.String(),
  events: Type.String(),
  dry_run: Type.Boolean(),
  source: Type.String(),
  total_bytes: Type.Union([Type.Integer(), Type.Null()]),
  counts: Counts,
  errors_kept: Type.Integer({ description: 'row errors stored for download (at most 100,000; the rest are only counted)' }),
  committed_line: Type.Integer({ description: 'the last file line of the last committed batch' }),
  error: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  started_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  finished_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  progress: Type.Union([Type.Object({ bytes_read: Type.Integer(), rows_read: Type.Integer(), rows_failed: Type.Integer() }), Type.Null()]),
});

const CreateQuery = Type.Object(
  {
    format: Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('ndjson')], { description: 'default: from the content type' })),
    mode: Type.Optional(Type.Union([Type.Literal('create'), Type.Literal('upsert')], { default: 'create' })),
    events: Type.Optional(Type.Union([Type.Literal('per-user'), Type.Literal('summary')], { default: 'per-user' })),
    dry_run: Type.Optional(Type.Boolean({ default: false })),
    ignore_unknown: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
);

const ExportQuery = Type.Object(
  {
    format: Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('ndjson')], { default: 'csv' })),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'only users changed at or after this time' })),
  },
  { additionalProperties: false },
);

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
    const find = async (id: string): Promise<ImportJob> => {
      const job = await deps.service.get(id);
      if (job === undefined) throw new ImportNotFoundError(`No import job has id ${id}.`);
      return job;
    };

    r.post(
      '/v1/imports',
      {
        config: { access: 'imports:write' },
        schema: {
          tags: ['imports'],
          summary: 'Upload a CSV or NDJSON file and start importing it in the background',
          querystring: CreateQuery,
          response: { 202: JobSchema, ...problemResponses },
        },
      },
      async (request, reply) => {
        if (!(request.body instanceof Readable)) throw new UnsupportedMediaTypeError(`Send the file as ${CSV} or ${NDJSON}.`);
        if (!deps.runner.hasRoom()) throw new ImportQueueFullError('Too many imports are waiting on this instance; retry later.');
        const declared = Number(request.headers['content-length'] ?? 0);
        if (declared > deps.maxBytes) throw new ImportTooLargeError(`The file is larger than ${deps.maxBytes} bytes.`);
        const format = request.query.format ?? (request.headers['content-type']?.startsWith(NDJSON) ? 'ndjson' : 'csv');
        await mkdir(deps.spoolDir, { recursive: true });
        const spoolPath = join(deps.spoolDir, `${uuidv7()}.${format}`);
        const bytes = await spool(request.body, spoolPath, deps.maxBytes, request.deadline);
        let job: ImportJob;
        try {
          job = await deps.service.create({
            format,
            mode: request.query.mode ?? 'create',
            events: request.query.events ?? 'per-user',
            dryRun: request.query.dry_run ?? false,
            options: { ignoreUnknown: request.query.ignore_unknown ?? false },
            source: 'upload',
            spoolPath,
            totalBytes: bytes,
            actor: request.principal?.actor,
          });
          deps.runner.submit(job);
        } catch (error) {
          await rm(spoolPath, { force: true });
          throw error;
        }
        return reply.code(202).header('location', `/v1/imports/${job.id}`).send(document(job));
      },
    );

    r.get(
      '/v1/imports/:id',
      {
        config: { access: 'imports:write' },
        schema: {
          tags: ['imports'],
          summary: 'Status, counts and progress of an import',
          params: IdParams,
          response: { 200: JobSchema, ...problemResponses },
        },
      },
      async (request) => document(await find(request.params.id)),
    );

    r.delete(
      '/v1/imports/:id',
      {
        config: { access: 'imports:write' },
        schema: {
          tags: ['imports'],
          summary: 'Cancel an import: the batch in progress rolls back, committed batches stay (see committed_line)',
          params: IdParams,
          response: { 200: JobSchema, ...problemResponses },
        },
      },
      async (request) => {
        await find(request.params.id);
        await deps.runner.cancel(request.params.id);
        return document(await find(request.params.id));
      },
    );

    r.get(
      '/v1/imports/:id/errors',
      {
        config: { access: 'imports:write' },
        schema: {
          tags: ['imports'],
          summary: 'The row errors of an import (line, field, reason) as CSV, or NDJSON with Accept: application/x-ndjson',
          params: IdParams,
        },
      },
      async (request, reply) => {
        const job = await find(request.params.id);
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
        config: { access: 'users:read' },
        schema: {
          tags: ['users'],
          summary: 'Every user (or those changed since a time) as CSV or NDJSON, from one consistent snapshot, streamed',
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

/**
 * Copies the upload to `path`, counting bytes; past `maxBytes` (or when `signal` aborts) it
 * stops reading and removes the partial file.
 */
async function spool(body: Readable, path: string, maxBytes: number, signal: AbortSignal): Promise<number> {
  let bytes = 0;
  try {
    await pipeline(
      body,
      async function* limit(chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          bytes += chunk.length;
          if (bytes > maxBytes) throw new ImportTooLargeError(`The file is larger than ${maxBytes} bytes.`);
          yield chunk;
        }
      },
      createWriteStream(path),
      { signal },
    );
    return bytes;
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
}

/** Aborts when the response is finished or the client goes away, so a streamed body stops reading. */
function closeSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => controller.abort(new Error('the response closed')));
  return controller.signal;
}
