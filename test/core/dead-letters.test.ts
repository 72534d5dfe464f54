import { describe, expect, it } from 'vitest';
import { storable } from '../../src/core/ingest/dead-letters.js';

describe('storable (the text of a dead letter)', () => {
  it('keeps NUL and unpaired surrogates, which PostgreSQL cannot store, as the text of their JSON escape', () => {
    expect(storable('a\u0000b')).toBe('a\\u0000b');
    expect(storable('x\ud800')).toBe('x\\ud800');
    expect(storable('\udc00y')).toBe('\\udc00y');
  });

  it('leaves everything PostgreSQL can store as it is: other control characters, pairs, plain text', () => {
    for (const text of ['', 'plain', 'tab\there', '\u0001\u001f', 'gift-🎁', 'back\\u0000slash']) {
      expect(storable(text)).toBe(text);
    }
  });
});
