// DateTime: ISO-8601 instants with an offset. Money: decimal strings, never floats.
import { GraphQLError, Kind } from 'graphql';
import { parseInstant } from '../core/ingest/validate.js';
import { builder } from './builder.js';

builder.scalarType('DateTime', {
  description: 'An instant, ISO-8601 with offset, e.g. 2026-11-23T10:15:00Z.',
  serialize: (value) => (value as Date).toISOString(),
  parseValue: (value) => parseDateTime(value),
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : undefined),
});

builder.scalarType('Money', {
  description: 'A decimal amount as a string, e.g. "19.99". Never a float.',
  serialize: (value) => value,
  parseValue: (value) => parseMoneyText(value),
  parseLiteral: (ast) => parseMoneyText(ast.kind === Kind.STRING ? ast.value : ast.kind),
});

function parseDateTime(value: unknown): Date {
  const date = parseInstant(value);
  if (!date) {
    throw new GraphQLError(
      `DateTime must be an ISO-8601 string with an offset such as "2026-11-23T10:15:00Z", got ${JSON.stringify(value)}`,
    );
  }
  return date;
}

function parseMoneyText(value: unknown): string {
  if (typeof value !== 'string' || !/^-?\d+(\.\d+)?$/.test(value)) {
    throw new GraphQLError(
      `Money must be a decimal string such as "19.99" (a JSON number would lose cents), got ${JSON.stringify(value)}`,
    );
  }
  return value;
}
