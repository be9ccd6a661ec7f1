import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorCodes } from 'fastify';
import { ApiKeyNotFoundError, ForbiddenError, UnauthenticatedError } from '../../src/auth/errors.js';
import { InvalidCursorError } from '../../src/kit/cursor.js';
import { DeadlineExceededError } from '../../src/kit/deadline.js';
import { UnavailableError, ValidationError } from '../../src/kit/errors.js';
import { UnsupportedMediaTypeError } from '../../src/http/media-type.js';
import { InvalidEncodingError } from '../../src/http/encoding.js';
import {
  ChunkExtensionsTooLargeError,
  HeadersTimeoutError,
  HeadersTooLargeError,
  MalformedHttpError,
} from '../../src/http/client-error.js';
import { PROBLEMS, problem, retryAfter, toProblem, type ProblemCode } from '../../src/http/problem.js';
import { RateLimitedError } from '../../src/http/rate-limit.js';
import { OverloadedError } from '../../src/http/load-shedding.js';
import {
  ImportFileError,
  ImportLeaseHeldError,
  ImportNotFoundError,
  ImportQueueFullError,
  ImportTooLargeError,
  ImportUploadTimeoutError,
} from '../../src/imports/errors.js';
import { RequestBodyTimeoutError, RequestDeadlineError } from '../../src/http/deadline.js';
import {
  EmailTakenError,
  ExternalIdTakenError,
  IdempotencyKeyReusedError,
  IdempotencyKeyTakenError,
  UserNotFoundError,
  VersionMismatchError,
} from '../../src/users/errors.js';
import {
  GroupExternalIdTakenError,
  GroupNameTakenError,
  GroupNotFoundError,
  GroupVersionMismatchError,
  MembersNotFoundError,
  NotAMemberError,
} from '../../src/groups/errors.js';
import { ReplayEventNotFoundError, ReplayTooLargeError, WebhookEndpointNotFoundError } from '../../src/webhooks/errors.js';

const jsonSyntaxError = Object.assign(new SyntaxError('Unexpected end of JSON input'), { statusCode: 400 });

/** One thrown value per catalogue entry: the table must cover the whole catalogue. */
const CASES: Record<ProblemCode, unknown[]> = {
  validation: [new ValidationError([{ pointer: '/email', message: 'bad' }])],
  'invalid-cursor': [new InvalidCursorError('bad cursor')],
  'malformed-json': [jsonSyntaxError, new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY()],
  'bad-request': [
    new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH(),
    new errorCodes.FST_ERR_BAD_URL('/v1/users/%zz'),
    new MalformedHttpError('both Content-Length and Transfer-Encoding'),
  ],
  'invalid-encoding': [
    new InvalidEncodingError('The request body is not valid UTF-8: byte offset 12 (0xE9) does not start a valid UTF-8 sequence.'),
    new InvalidEncodingError('The query parameter q is not valid UTF-8', [{ parameter: 'q', message: 'is not valid UTF-8' }]),
  ],
  unauthenticated: [new UnauthenticatedError('no')],
  forbidden: [new ForbiddenError('users:write')],
  'route-not-found': [],
  'api-key-not-found': [new ApiKeyNotFoundError('gone')],
  'user-not-found': [new UserNotFoundError('gone')],
  'group-not-found': [new GroupNotFoundError('gone')],
  'membership-not-found': [new NotAMemberError('not a member')],
  'webhook-endpoint-not-found': [new WebhookEndpointNotFoundError('gone')],
  'event-not-found': [new ReplayEventNotFoundError('pruned')],
  'request-timeout': [new RequestBodyTimeoutError('slow body')],
  'upload-timeout': [new ImportUploadTimeoutError('stalled')],
  'headers-timeout': [new HeadersTimeoutError('slow headers')],
  'email-taken': [new EmailTakenError('taken')],
  'external-id-taken': [new ExternalIdTakenError('taken')],
  'group-name-taken': [new GroupNameTakenError('taken')],
  'group-external-id-taken': [new GroupExternalIdTakenError('taken')],
  'import-job-leased': [new ImportLeaseHeldError('j1', 'host:1:abc', new Date())],
  'version-mismatch': [new VersionMismatchError('stale'), new GroupVersionMismatchError('stale')],
  'body-too-large': [
    new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(),
    new ImportTooLargeError('too big'),
    new ChunkExtensionsTooLargeError('chunk extensions'),
  ],
  'import-not-found': [new ImportNotFoundError('no such import')],
  'import-queue-full': [new ImportQueueFullError('queue full')],
  'uri-too-long': [new errorCodes.FST_ERR_MAX_PARAM_LENGTH('/v1/users/xxx')],
  'unsupported-media-type': [new UnsupportedMediaTypeError('json please'), new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE('text/plain')],
  'idempotency-key-reused': [new IdempotencyKeyReusedError('reused')],
  'member-not-found': [new MembersNotFoundError(['01933b5e-8d3a-7c4e-9a51-2f0d4c1b7e21' as never])],
  'replay-too-large': [new ReplayTooLargeError('too many')],
  'rate-limited': [new RateLimitedError('slow down')],
  'headers-too-large': [new HeadersTooLargeError('too many headers')],
  'invalid-import-file': [new ImportFileError('encoding', 'not UTF-8', { line: 1 })],
  unavailable: [new UnavailableError('db down'), new DeadlineExceededError('slow')],
  overloaded: [new OverloadedError('busy')],
  'deadline-exceeded': [new RequestDeadlineError('too slow')],
  internal: [new Error('secret internal detail'), new IdempotencyKeyTakenError('secret internal detail'), 'a thrown string', null],
};

test('the case table covers the whole catalogue', () => {
  assert.deepEqual(Object.keys(CASES).sort(), Object.keys(PROBLEMS).sort());
});

for (const [code, errors] of Object.entries(CASES) as [ProblemCode, unknown[]][]) {
  for (const [i, error] of errors.entries()) {
    test(`${code} #${i + 1} maps to ${PROBLEMS[code].status}`, () => {
      const p = toProblem(error, 'req-1');
      assert.equal(p.type, `urn:roster:problem:${code}`);
      assert.equal(p.status, PROBLEMS[code].status);
      assert.equal(p.title, PROBLEMS[code].title);
      assert.equal(p.request_id, 'req-1');
      assert.ok(p.detail.length > 0);
      if (p.status >= 500) assert.doesNotMatch(JSON.stringify(p), /secret internal detail/);
    });
  }
}

test('route-not-found is built directly by the not-found handler', () => {
  assert.equal(problem('route-not-found', 'x', 'r').status, 404);
});

test('invalid-encoding names the parameters concerned, and none for a body', () => {
  const query = new InvalidEncodingError('q is bad', [{ parameter: 'q', message: 'is not valid UTF-8' }]);
  assert.deepEqual(toProblem(query, 'r').errors, [{ parameter: 'q', message: 'is not valid UTF-8' }]);
  assert.equal(toProblem(new InvalidEncodingError('the body is bad'), 'r').errors, undefined);
});

test('field errors keep their pointers; schema errors name the part they came from', () => {
  assert.deepEqual(toProblem(new ValidationError([{ pointer: '/name', message: 'bad' }]), 'r').errors, [
    { pointer: '/name', message: 'bad' },
  ]);
  const schemaError = Object.assign(new Error('validation'), {
    statusCode: 400,
    validationContext: 'querystring',
    validation: [
      { keyword: 'maximum', schemaPath: '#/properties/limit', instancePath: '/limit', params: {}, message: 'must be <= 200' },
      { keyword: 'boolean', schemaPath: '#/additionalProperties', instancePath: '/foo', params: {}, message: 'schema is false' },
      { keyword: 'additionalProperties', schemaPath: '#', instancePath: '', params: {}, message: 'no' },
    ],
  });
  assert.deepEqual(toProblem(schemaError, 'r').errors, [
    { parameter: 'limit', message: 'must be <= 200' },
    { parameter: 'foo', message: 'is not a known field' },
  ]);
  const bodyError = Object.assign(new Error('validation'), {
    statusCode: 400,
    validationContext: 'body',
    validation: [
      { keyword: 'required', schemaPath: '#', instancePath: '', params: { requiredProperties: ['email', 'name'] }, message: 'x' },
    ],
  });
  assert.deepEqual(toProblem(bodyError, 'r').errors, [
    { pointer: '/email', message: 'is required' },
    { pointer: '/name', message: 'is required' },
  ]);
});

test('unavailable says when to retry (Retry-After); other problems do not', () => {
  assert.equal(retryAfter(toProblem(new UnavailableError('The database is unavailable; retry later.'), 'r')), '5');
  assert.equal(retryAfter(toProblem(new DeadlineExceededError('slow'), 'r')), '5', 'a dependency that did not answer in time');
  assert.equal(retryAfter(toProblem(new Error('bug'), 'r')), undefined);
  assert.equal(retryAfter(problem('validation', 'x', 'r')), undefined);
});
