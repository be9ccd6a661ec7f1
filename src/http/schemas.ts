import Type from 'typebox';
import { component, problemExample } from './openapi.js';

/** The problem document every error response uses (components.schemas.Problem). */
export const Problem = component(
  'Problem',
  Type.Object(
    {
      type: Type.String({ description: 'Stable problem type, urn:roster:problem:<code>' }),
      title: Type.String({ description: 'What the type means; fixed per type' }),
      status: Type.Integer({ description: 'The HTTP status, repeated' }),
      detail: Type.String({ description: 'What happened to this request' }),
      request_id: Type.String({ description: 'The X-Request-Id of the request' }),
      errors: Type.Optional(
        Type.Array(
          Type.Object({
            pointer: Type.Optional(Type.String({ description: 'RFC 6901 pointer into the JSON body' })),
            parameter: Type.Optional(Type.String({ description: 'name of the query, path or header parameter' })),
            message: Type.String(),
          }),
          { description: 'One entry per invalid field (validation, invalid-encoding)' },
        ),
      ),
    },
    { description: 'RFC 9457 problem details' },
  ),
  {
    ...problemExample('validation', 'Invalid values in the request body.'),
    errors: [{ pointer: '/email', message: 'must look like name@example.com' }],
  },
);

/** Responses every route may give, for the OpenAPI document and the serializer. */
export const problemResponses = {
  '4xx': Problem.ref,
  '5xx': Problem.ref,
} as const;
