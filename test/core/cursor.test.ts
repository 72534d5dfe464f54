import { describe, expect, it } from 'vitest';
import { comparePositions, decodeCursor, encodeCursor } from '../../src/feed/cursor.js';

describe('cursor', () => {
  it('round-trips a position through an opaque string', () => {
    const position = { txId: 123456789012n, seq: 42n };
    const cursor = encodeCursor(position);
    expect(cursor).not.toContain('123456789012');
    expect(decodeCursor(cursor)).toEqual(position);
  });

  it.each([
    '',
    'abc',
    'not a cursor!',
    Buffer.from('v1:1').toString('base64url'),
    Buffer.from('v2:1:2').toString('base64url'),
  ])('refuses %j with a clear error', (cursor) => {
    expect(() => decodeCursor(cursor)).toThrow(/is not a cursor/);
  });

  it('orders by transaction first, then sequence', () => {
    expect(comparePositions({ txId: 1n, seq: 9n }, { txId: 2n, seq: 1n })).toBe(-1);
    expect(comparePositions({ txId: 2n, seq: 1n }, { txId: 2n, seq: 2n })).toBe(-1);
    expect(comparePositions({ txId: 2n, seq: 2n }, { txId: 2n, seq: 2n })).toBe(0);
  });
});
