import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyReply } from 'fastify';
import { ImportQueueFullError, ImportTooLargeError, ImportUploadTimeoutError } from '../imports/errors.js';
import { isFinished, type EventsMode, type ImportJob, type ImportMode } from '../imports/jobs/job.js';
import type { ImportFormat } from '../imports/read/parse.js';
import { newUuidV7 } from '../kit/uuid.js';
import type { ImportsHttp } from './imports.routes.js';

/** What an upload asks for, from the REST query string or the console's form fields. */
export interface UploadRequest {
  readonly format: ImportFormat;
  readonly mode: ImportMode;
  readonly events: EventsMode;
  readonly dryRun: boolean;
  readonly ignoreUnknown: boolean;
  readonly actor: string | undefined;
  /** Content-Length when the client sent one (0 otherwise): refused at once when past the limit. */
  readonly declaredBytes: number;
}

/**
 * The one way an uploaded file becomes a job (POST /v1/imports and the console's upload form):
 * refused when the queue is full, spooled to disk as it arrives under the upload limits, recorded
 * as a pending job and handed to the runner. When the body was left unread (too large, too slow)
 * the response closes the connection, which could not carry another request.
 */
export async function acceptUpload(
  deps: ImportsHttp,
  body: Readable,
  upload: UploadRequest,
  context: { readonly signal: AbortSignal; readonly reply: FastifyReply },
): Promise<ImportJob> {
  if (!deps.runner.hasRoom()) throw new ImportQueueFullError('Too many imports are waiting on this instance; retry later.');
  if (upload.declaredBytes > deps.maxBytes) throw new ImportTooLargeError(`The file is larger than ${deps.maxBytes} bytes.`);
  await mkdir(deps.spoolDir, { recursive: true });
  const spoolPath = join(deps.spoolDir, `${newUuidV7()}.${upload.format}`);
  let bytes: number;
  try {
    bytes = await spool(body, spoolPath, { ...deps, signal: context.signal });
  } catch (error) {
    if (error instanceof ImportUploadTimeoutError || error instanceof ImportTooLargeError) context.reply.header('connection', 'close');
    throw error;
  }
  try {
    const job = await deps.service.create(
      {
        format: upload.format,
        mode: upload.mode,
        events: upload.events,
        dryRun: upload.dryRun,
        options: { ignoreUnknown: upload.ignoreUnknown },
        source: 'upload',
        spoolPath,
        totalBytes: bytes,
        actor: upload.actor,
      },
      context.signal,
    );
    deps.runner.submit(job);
    return job;
  } catch (error) {
    await rm(spoolPath, { force: true });
    throw error;
  }
}

/**
 * Cancels `job` (DELETE /v1/imports/:id and the console's cancel button). Not queued or running
 * here: a job nobody runs (left by a crash, or queued on an instance that has not started it) is
 * cancelled through its lease; one that another live process runs is a 409 `import-job-leased`.
 */
export async function cancelImport(deps: Pick<ImportsHttp, 'runner' | 'service'>, job: ImportJob, signal: AbortSignal): Promise<void> {
  if (!(await deps.runner.cancel(job.id)) && !isFinished(job.status)) await deps.service.cancelPending(job.id, signal);
}

/**
 * Copies the upload to `path`, counting bytes. Past `maxBytes`, when the body stalls for
 * `uploadIdleMs`, when it has not all arrived after `uploadTimeoutMs`, or when `signal` aborts
 * (the client went away), it stops reading and removes the partial file.
 */
async function spool(
  body: Readable,
  path: string,
  limits: { maxBytes: number; uploadTimeoutMs: number; uploadIdleMs: number; signal: AbortSignal },
): Promise<number> {
  let bytes = 0;
  const { maxBytes } = limits;
  try {
    await pipeline(
      guardedChunks(body, limits),
      async function* limit(chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          bytes += chunk.length;
          if (bytes > maxBytes) throw new ImportTooLargeError(`The file is larger than ${maxBytes} bytes.`);
          yield chunk;
        }
      },
      createWriteStream(path),
    );
    return bytes;
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
}

/**
 * The body's chunks, read with `read()` rather than by piping the body itself: an error or a
 * timeout then ends this generator without destroying the request, so its socket survives to
 * carry the 408/413 problem (with `Connection: close`) instead of a reset. Each wait for more
 * bytes is bounded by the idle timeout and by what is left of the overall one.
 */
async function* guardedChunks(
  body: Readable,
  limits: { uploadTimeoutMs: number; uploadIdleMs: number; signal: AbortSignal },
): AsyncGenerator<Buffer, void, undefined> {
  const endsAt = Date.now() + limits.uploadTimeoutMs;
  for (;;) {
    let chunk: Buffer | null;
    while ((chunk = body.read() as Buffer | null) !== null) yield chunk;
    if (body.readableEnded) return;
    limits.signal.throwIfAborted();
    if (body.errored) throw body.errored;
    const left = endsAt - Date.now();
    if (left <= 0) throw new ImportUploadTimeoutError(`The upload did not arrive whole within ${limits.uploadTimeoutMs} ms.`);
    const idle = left < limits.uploadIdleMs ? undefined : limits.uploadIdleMs;
    const ended = await new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new ImportUploadTimeoutError(
                idle === undefined
                  ? `The upload did not arrive whole within ${limits.uploadTimeoutMs} ms.`
                  : `The upload sent nothing for ${idle} ms; it was stopped.`,
              ),
            ),
          ),
        idle ?? left,
      );
      const onReadable = () => finish(() => resolve(false));
      const onEnd = () => finish(() => resolve(true));
      const onError = (error: Error) => finish(() => reject(error));
      const onClose = () => finish(() => (body.readableEnded ? resolve(true) : reject(new Error('the upload connection closed'))));
      const onAbort = () => finish(() => reject(limits.signal.reason instanceof Error ? limits.signal.reason : new Error('aborted')));
      function finish(settle: () => void) {
        clearTimeout(timer);
        body.off('readable', onReadable).off('end', onEnd).off('error', onError).off('close', onClose);
        limits.signal.removeEventListener('abort', onAbort);
        settle();
      }
      body.on('readable', onReadable).once('end', onEnd).once('error', onError).once('close', onClose);
      limits.signal.addEventListener('abort', onAbort, { once: true });
    });
    if (ended) return;
  }
}
