import { randomUUID } from 'node:crypto';
import { STATUS_CODES, maxHeaderSize, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../kit/errors.js';
import { RequestBodyTimeoutError } from './deadline.js';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem.js';
import { SCIM_CONTENT_TYPE, isScimUrl, scimErrorBody } from './scim-errors.js';
import type { ServerTimeouts } from './tracing.js';

/** The request line and headers exceed Node's limit (`--max-http-header-size`, 16 KiB). */
export class HeadersTooLargeError extends AppError {
  readonly code = 'headers-too-large';
}

/** The request headers did not arrive within ROSTER_HTTP_HEADERS_TIMEOUT_MS (a slow or stalled client). */
export class HeadersTimeoutError extends AppError {
  readonly code = 'headers-timeout';
}

/** Node's HTTP parser refused the bytes: not HTTP/1.1 as RFC 9112 allows it. */
export class MalformedHttpError extends AppError {
  readonly code = 'bad-request';
}

/** A chunked body's chunk extensions exceed Node's limit (Node's own answer is 413). */
export class ChunkExtensionsTooLargeError extends AppError {
  readonly code = 'body-too-large';
}

/** What the parser's error codes (llhttp's HPE_*) mean, in words a client can act on. */
const PARSER_ERRORS: Record<string, string> = {
  HPE_UNEXPECTED_CONTENT_LENGTH: 'The Content-Length header is repeated.',
  HPE_INVALID_TRANSFER_ENCODING: 'The Transfer-Encoding header is not valid: chunked must be its last coding.',
  HPE_INVALID_CONTENT_LENGTH: 'The Content-Length header is not a single valid number.',
  HPE_INVALID_CHUNK_SIZE: 'A chunk size of the chunked body is not a hexadecimal number.',
  HPE_INVALID_HEADER_TOKEN: 'A header name or value contains a character HTTP does not allow.',
  HPE_LF_EXPECTED: 'A line of the request does not end with CRLF.',
  HPE_CR_EXPECTED: 'A line of the request does not end with CRLF.',
  HPE_STRICT: 'A line of the request does not end with CRLF.',
  HPE_INVALID_METHOD: 'The request method is not valid.',
  HPE_INVALID_URL: 'The request target is not a valid URL (only printable ASCII may be sent; percent-encode the rest).',
  HPE_INVALID_VERSION: 'The HTTP version is not valid.',
  HPE_INVALID_CONSTANT: 'The request line is not valid HTTP/1.1.',
};

/**
 * The error a client should see for a 'clientError' of the node server. `inFlight` says whether
 * a request on the connection had been dispatched already (its headers complete), which is how
 * Node's one timeout code (ERR_HTTP_REQUEST_TIMEOUT) tells a headers timeout from a whole-request one.
 */
export function clientErrorFor(error: { code?: string; reason?: string }, inFlight: boolean, timeouts: ServerTimeouts): AppError {
  const code = error.code ?? '';
  if (code === 'HPE_HEADER_OVERFLOW') return new HeadersTooLargeError(`The request line and headers exceed ${maxHeaderSize} bytes.`);
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return new ChunkExtensionsTooLargeError('The chunk extensions of the body are too large.');
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return inFlight
      ? new RequestBodyTimeoutError(`The request was not received whole within ${timeouts.requestTimeoutMs} ms.`)
      : new HeadersTimeoutError(`The request headers were not received within ${timeouts.headersTimeoutMs} ms.`);
  }
  // llhttp reports both headers together as an invalid Transfer-Encoding or Content-Length
  // (whichever came second); only its `reason` says which case it is.
  const reason = error.reason;
  if (typeof reason === 'string' && reason.includes('Content-Length') && reason.includes('Transfer-Encoding')) {
    return new MalformedHttpError(SMUGGLING);
  }
  return new MalformedHttpError(PARSER_ERRORS[code] ?? `The request is not valid HTTP/1.1 (${code || 'unknown parser error'}).`);
}

const SMUGGLING =
  'A request may not carry both Content-Length and Transfer-Encoding (a request smuggling pattern); it was refused and the connection closed.';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A request line's method and target, read loosely: enough to tell where a refused request was going. */
const REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ +([^\s]+)/;

/**
 * The target of the refused request, when it can be read: the dispatched request's URL, else
 * the request line at the start of the bytes the parser refused (Node hands them over as
 * `rawPacket`: the chunk it was parsing). An absolute-form target is reduced to its path.
 */
export function refusedTarget(rawPacket: unknown, inFlight: ServerResponse | undefined): string | undefined {
  const url = inFlight?.req?.url;
  if (typeof url === 'string') return url;
  if (!Buffer.isBuffer(rawPacket)) return undefined;
  // Only the line's start matters: a request line longer than this is not one SCIM would send.
  const line = REQUEST_LINE.exec(rawPacket.subarray(0, 8192).toString('latin1'));
  return line?.[1]?.replace(/^https?:\/\/[^/?#]*/i, '');
}

/**
 * Fastify's `clientErrorHandler`, for the node server's 'clientError' event: the parser refused
 * the bytes (431 headers too large, 400 smuggling attempts, bad chunk sizes, characters HTTP
 * does not allow) or a timeout fired (408). Fastify's default answers those in its own JSON;
 * this writes a catalogued problem+json, the one shape every other answer has — or, for a
 * request whose target is under /scim/v2, the same status and detail as a SCIM error. The socket is raw
 * here, so the whole HTTP/1.1 response is written by hand (Content-Length, Connection: close,
 * a request id: the in-flight request's when there is one, else a new one), and, as Node does,
 * only if no response has started on the connection; then the connection is closed.
 */
export function clientErrorHandler(timeouts: ServerTimeouts) {
  return function onClientError(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
    // A reset: the socket is gone and nobody would read an answer (Node's docs say as much).
    if (error.code === 'ECONNRESET' || socket.destroyed) {
      socket.destroy();
      return;
    }
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
    const given = inFlight?.getHeader('x-request-id');
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    const problem = toProblem(clientErrorFor(error, inFlight !== undefined, timeouts), requestId);
    // Under /scim/v2 every error is a SCIM error (RFC 7644 §3.12), these included, when the
    // request line says where the request was going.
    const target = refusedTarget((error as { rawPacket?: unknown }).rawPacket, inFlight);
    const scim = target !== undefined && isScimUrl(target);
    const status = problem.status;
    this.log.info(
      { request_id: requestId, status, parser_error: error.code, remote_address: socket.remoteAddress, scim },
      'request refused before routing',
    );
    if (socket.writable && (inFlight === undefined || !inFlight.headersSent)) {
      const json = JSON.stringify(scim ? scimErrorBody(status, problem.detail, status === 400 ? 'invalidSyntax' : undefined) : problem);
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
          `Content-Type: ${scim ? SCIM_CONTENT_TYPE : PROBLEM_CONTENT_TYPE}\r\n` +
          `Content-Length: ${Buffer.byteLength(json)}\r\n` +
          'Connection: close\r\n' +
          `X-Request-Id: ${requestId}\r\n` +
          'Cache-Control: no-store\r\n' +
          'X-Content-Type-Options: nosniff\r\n' +
          `\r\n${json}`,
      );
    }
    // As Node does: the parser is in an error state, nothing more is read from this connection.
    socket.destroy();
  };
}
