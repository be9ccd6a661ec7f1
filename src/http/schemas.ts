import Type from 'typebox';

/** Shared wire schemas: the problem document every error response uses. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'Stable problem type, urn:roster:problem:<code>' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    request_id: Type.String(),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          pointer: Type.Optional(Type.String({ description: 'RFC 6901 pointer into the JSON body' })),
          parameter: Type.Optional(Type.String({ description: 'name of the query, path or header parameter' })),
          message: Type.String(),
        }),
      ),
    ),
  },
  { description: 'RFC 9457 problem details' },
);

/** Responses every route may give, for the OpenAPI document and the serializer. */
export const problemResponses = {
  '4xx': ProblemSchema,
  '5xx': ProblemSchema,
} as const;
