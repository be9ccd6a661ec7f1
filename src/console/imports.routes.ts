import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ImportNotFoundError } from '../imports/errors.js';
import { EVENTS_MODES, IMPORT_MODES, type EventsMode, type ImportJob, type ImportMode } from '../imports/jobs/job.js';
import type { RowError } from '../imports/read/rows.js';
import { ValidationError } from '../kit/errors.js';
import { acceptUpload, cancelImport } from '../http/import-actions.js';
import type { ImportsHttp } from '../http/imports.routes.js';
import { UnsupportedMediaTypeError } from '../http/media-type.js';
import { CrossSiteRequestError, requireScope, seeOther, sendPage, viewerOf, type SignedIn } from './context.js';
import { csrfMatches } from './sessions.js';
import { ImportsPage, JobPage, JobProgress } from './views/imports.js';

export const JOBS_PAGE_SIZE = 20;
export const ROW_ERRORS_PAGE_SIZE = 50;

/** The form's fields besides the file: a handful of short values. */
const FORM_LIMITS = { fields: 8, fieldSize: 1024, files: 1, parts: 10, headerPairs: 50 } as const;
const LINE = /^(0|[1-9][0-9]{0,15})$/;

/**
 * The imports screen (imports:write, as POST /v1/imports): upload a file from a plain form, the
 * jobs newest first, a job's live progress and row errors, cancel. Uploads go through the same
 * acceptUpload() as the REST route: spooled to disk as they stream in, under the same limits.
 */
export function importsRoutes(deps: ImportsHttp) {
  return async function routes(app: FastifyInstance): Promise<void> {
    // Registered here, so only these routes read multipart bodies. Busboy's own file limit sits
    // one byte past ours: acceptUpload() counts the bytes and refuses the file with its own error.
    await app.register(multipart, { limits: { ...FORM_LIMITS, fileSize: deps.maxBytes + 1 } });
    const page = { config: { access: 'public' as const, console: 'signed-in' as const }, schema: { hide: true } };

    app.get('/imports', page, async (request, reply) => {
      const state = requireScope(request, 'imports:write');
      const before = (request.query as Record<string, unknown>).before;
      const view = await listView(deps, typeof before === 'string' ? before : undefined, request.deadline.signal);
      return sendPage(reply, ImportsPage({ viewer: viewerOf(state), view }) as string);
    });

    app.post(
      '/imports',
      // The upload takes as long as the REST one may (its deadline grows by it, the slow-body
      // guard leaves it alone); the CSRF token is checked by the handler, from the stream.
      { ...page, config: { ...page.config, consoleCsrf: 'handler' as const, bodyTimeoutMs: deps.uploadTimeoutMs } },
      async (request, reply) => {
        const state = requireScope(request, 'imports:write');
        if (!request.isMultipart()) throw new UnsupportedMediaTypeError('Send the form as multipart/form-data.');
        try {
          const job = await receiveUpload(deps, request, reply, state);
          return seeOther(reply, `/console/imports/${job.id}`);
        } catch (error) {
          // The file was not read to its end: the connection cannot carry another request.
          reply.header('connection', 'close');
          if (!(error instanceof UploadFormError)) throw error;
          const view = await listView(deps, undefined, request.deadline.signal);
          return sendPage(reply, ImportsPage({ viewer: viewerOf(state), view: { ...view, error: error.message } }) as string, 400);
        }
      },
    );

    app.get('/imports/:id', page, async (request, reply) => {
      const state = requireScope(request, 'imports:write');
      const job = await find(deps, request);
      const query = request.query as Record<string, unknown>;
      const errorsAfter = typeof query.errors_after === 'string' && LINE.test(query.errors_after) ? Number(query.errors_after) : 0;
      const errors = await rowErrorsPage(deps, job.id, errorsAfter, request.deadline.signal);
      const notice = query.cancelled === '1' ? 'The import was cancelled.' : undefined;
      return sendPage(
        reply,
        JobPage({ viewer: viewerOf(state), view: { job, live: deps.runner.progress(job.id), errorsAfter, ...errors, notice } }) as string,
      );
    });

    // The fragment the job page polls. Once the job has finished, the whole page reloads
    // (HX-Refresh) to show its row errors; a page that was never polled has no need to.
    app.get('/imports/:id/progress', page, async (request, reply) => {
      const state = requireScope(request, 'imports:write');
      const job = await find(deps, request);
      if (job.status !== 'pending' && job.status !== 'running') reply.header('hx-refresh', 'true');
      return sendPage(reply, JobProgress({ viewer: viewerOf(state), job, live: deps.runner.progress(job.id) }) as string);
    });

    app.post('/imports/:id/cancel', page, async (request, reply) => {
      requireScope(request, 'imports:write');
      const job = await find(deps, request);
      await cancelImport(deps, job, request.deadline.signal);
      return seeOther(reply, `/console/imports/${job.id}?cancelled=1`);
    });
  };
}

/** A form the upload cannot go ahead with (no file, an unknown option): the form again, with why. */
class UploadFormError extends ValidationError {}

/**
 * Reads the form's fields as they arrive; at the file part, checks the CSRF token (a field
 * before the file, or the header htmx sends) and the options before reading any of the file,
 * then streams the file into acceptUpload(). Fields after the file are not read.
 */
async function receiveUpload(deps: ImportsHttp, request: FastifyRequest, reply: FastifyReply, state: SignedIn): Promise<ImportJob> {
  const fields = new Map<string, string>();
  for await (const part of request.parts()) {
    if (part.type === 'field') {
      if (typeof part.value === 'string') fields.set(part.fieldname, part.value);
      continue;
    }
    if (!csrfMatches(state.session, fields.get('_csrf') ?? request.headers['x-csrf-token'])) {
      throw new CrossSiteRequestError('The form was stale or did not come from this console; reload the page and try again.');
    }
    if (part.fieldname !== 'file' || part.filename === '') throw formError('/file', 'Choose a file to import.');
    const options = uploadOptions(fields, part.filename, part.mimetype);
    return acceptUpload(
      deps,
      part.file,
      { ...options, actor: state.principal.actor, declaredBytes: 0 },
      { signal: request.deadline.signal, reply },
    );
  }
  throw formError('/file', 'Choose a file to import.');
}

/** The form's options, checked against what POST /v1/imports accepts. */
export function uploadOptions(
  fields: ReadonlyMap<string, string>,
  filename: string,
  mimetype: string,
): { format: 'csv' | 'ndjson'; mode: ImportMode; events: EventsMode; dryRun: boolean; ignoreUnknown: boolean } {
  const format = fields.get('format') ?? 'auto';
  const mode = fields.get('mode') ?? 'create';
  const events = fields.get('events') ?? 'per-user';
  if (format !== 'auto' && format !== 'csv' && format !== 'ndjson') throw formError('/format', 'The format must be CSV or NDJSON.');
  if (!(IMPORT_MODES as readonly string[]).includes(mode)) throw formError('/mode', 'The mode must be create or upsert.');
  if (!(EVENTS_MODES as readonly string[]).includes(events)) throw formError('/events', 'Events must be per-user or summary.');
  const looksNdjson = /\.(ndjson|jsonl)$/i.test(filename) || mimetype.startsWith('application/x-ndjson');
  return {
    format: format === 'auto' ? (looksNdjson ? 'ndjson' : 'csv') : format,
    mode: mode as ImportMode,
    events: events as EventsMode,
    dryRun: fields.get('dry_run') === '1',
    ignoreUnknown: fields.get('ignore_unknown') === '1',
  };
}

function formError(pointer: string, message: string): UploadFormError {
  return new UploadFormError([{ pointer, message }], message);
}

async function find(deps: ImportsHttp, request: FastifyRequest): Promise<ImportJob> {
  const { id } = request.params as { id: string };
  const job = await deps.service.get(id, request.deadline.signal);
  if (job === undefined) throw new ImportNotFoundError(`No import job has id ${id}.`);
  return job;
}

async function listView(deps: ImportsHttp, before: string | undefined, signal: AbortSignal) {
  const jobs = await deps.service.list({ limit: JOBS_PAGE_SIZE + 1, before }, signal);
  const shown = jobs.slice(0, JOBS_PAGE_SIZE);
  return {
    jobs: shown,
    olderBefore: jobs.length > JOBS_PAGE_SIZE ? shown.at(-1)?.id : undefined,
    paged: before !== undefined,
    maxBytes: deps.maxBytes,
  };
}

/**
 * A page of row errors after `afterLine`: ROW_ERRORS_PAGE_SIZE of them, plus the rest of the
 * last line's (a line's errors are never split across pages), and the line to continue from.
 */
export async function rowErrorsPage(
  deps: Pick<ImportsHttp, 'service'>,
  id: string,
  afterLine: number,
  signal: AbortSignal,
): Promise<{ errors: RowError[]; nextErrorsAfter?: number }> {
  const errors: RowError[] = [];
  // Leaving the loop early closes the reader (its pages are read 1,000 rows at a time).
  for await (const error of deps.service.rowErrors(id, signal, afterLine)) {
    const last = errors.at(-1);
    if (errors.length >= ROW_ERRORS_PAGE_SIZE && last !== undefined && error.line !== last.line) {
      return { errors, nextErrorsAfter: last.line };
    }
    errors.push(error);
  }
  return { errors };
}
