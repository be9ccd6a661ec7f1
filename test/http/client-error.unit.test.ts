import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientErrorFor } from '../../src/http/client-error.js';
import { toProblem } from '../../src/http/problem.js';
import { connectionsCheckingIntervalMs } from '../../src/http/tracing.js';

const timeouts = { headersTimeoutMs: 1_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000 };
const codeOf = (error: { code?: string; reason?: string }, inFlight = false) =>
  toProblem(clientErrorFor(error, inFlight, timeouts), 'r').type.replace('urn:roster:problem:', '');

test("each 'clientError' of the node server maps to a catalogued problem", () => {
  assert.equal(codeOf({ code: 'HPE_HEADER_OVERFLOW' }), 'headers-too-large');
  assert.equal(codeOf({ code: 'HPE_CHUNK_EXTENSIONS_OVERFLOW' }), 'body-too-large');
  assert.equal(codeOf({ code: 'ERR_HTTP_REQUEST_TIMEOUT' }), 'headers-timeout');
  assert.equal(codeOf({ code: 'ERR_HTTP_REQUEST_TIMEOUT' }, true), 'request-timeout');
  for (const code of ['HPE_INVALID_CHUNK_SIZE', 'HPE_INVALID_HEADER_TOKEN', 'HPE_CR_EXPECTED', 'HPE_SOMETHING_NEW', undefined]) {
    assert.equal(codeOf({ code }), 'bad-request', String(code));
  }
});

test('the details say what was wrong, the smuggling pattern by name', () => {
  const detail = (error: { code?: string; reason?: string }) => clientErrorFor(error, false, timeouts).message;
  for (const [code, reason] of [
    ['HPE_INVALID_TRANSFER_ENCODING', "Transfer-Encoding can't be present with Content-Length"],
    ['HPE_INVALID_CONTENT_LENGTH', "Content-Length can't be present with Transfer-Encoding"],
  ]) {
    assert.match(detail({ code, reason }), /both Content-Length and Transfer-Encoding/);
  }
  assert.match(detail({ code: 'HPE_INVALID_TRANSFER_ENCODING', reason: 'Request has invalid `Transfer-Encoding`' }), /last coding/);
  assert.match(detail({ code: 'ERR_HTTP_REQUEST_TIMEOUT' }), /1000 ms/);
  assert.match(detail({ code: 'HPE_SOMETHING_NEW' }), /HPE_SOMETHING_NEW/);
});

test('the connections check runs every tenth of the shorter timeout, between 250 ms and 30 s', () => {
  assert.equal(connectionsCheckingIntervalMs({ headersTimeoutMs: 1_000, requestTimeoutMs: 30_000 }), 250);
  assert.equal(connectionsCheckingIntervalMs({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 }), 1_000);
  assert.equal(connectionsCheckingIntervalMs({ headersTimeoutMs: 60_000, requestTimeoutMs: 20_000 }), 2_000);
  assert.equal(connectionsCheckingIntervalMs({ headersTimeoutMs: 600_000, requestTimeoutMs: 3_600_000 }), 30_000);
});
