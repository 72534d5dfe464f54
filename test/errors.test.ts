// What clients see of errors: the core's expected errors keep message and code; anything
// unexpected is masked, without stack or SQL, and detailed only in development.
import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { InvalidInput } from '../src/core/errors.js';
import { maskError } from '../src/schema/errors.js';

const wrap = (original: Error) => new GraphQLError(original.message, { originalError: original });

describe('maskError', () => {
  it('passes a core error through with its code', () => {
    const error = wrap(new InvalidInput('first must be a whole number from 1 to 500, got 0'));
    const masked = maskError(error, 'Unexpected error.', false) as GraphQLError;
    expect(masked.message).toBe('first must be a whole number from 1 to 500, got 0');
    expect(masked.extensions.code).toBe('BAD_USER_INPUT');
  });

  it('hides an unexpected error (such as a SQL failure) outside development', () => {
    const sql = new Error('duplicate key value violates unique constraint "activity_events_event_id_key"');
    const masked = maskError(wrap(sql), 'Unexpected error.', false) as GraphQLError;
    expect(masked.message).toBe('Unexpected error.');
    expect(masked.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
    expect(JSON.stringify(masked.toJSON())).not.toMatch(/duplicate key|stack/);
  });

  it('shows the original message in development, never the stack', () => {
    const masked = maskError(wrap(new Error('boom')), 'Unexpected error.', true) as GraphQLError;
    expect(masked.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR', originalError: { message: 'boom' } });
  });

  it('turns the refusal of a NUL by PostgreSQL (22021, or 22P05 in jsonb) into BAD_USER_INPUT, without its SQL text', () => {
    for (const code of ['22021', '22P05']) {
      const refused = Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code });
      const masked = maskError(
        new GraphQLError(refused.message, { originalError: refused, path: ['userActivity'] }),
        'Unexpected error.',
        true,
      ) as GraphQLError;
      expect(masked.message).toBe(
        'an argument holds the character U+0000 (NUL), which no stored text contains; remove it',
      );
      expect(masked.extensions).toEqual({ code: 'BAD_USER_INPUT' });
      expect(masked.path).toEqual(['userActivity']);
    }
  });

  it('keeps errors raised on purpose as GraphQL errors (validation, syntax)', () => {
    const error = new GraphQLError('Syntax Error: Expected Name, found "}".');
    expect(maskError(error, 'Unexpected error.', false)).toBe(error);
  });
});
