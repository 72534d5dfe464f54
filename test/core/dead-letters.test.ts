import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RejectedBatch, storable, storeDeadLetters } from '../../src/core/ingest/dead-letters.js';
import type { Rejection } from '../../src/core/ingest/rejections.js';
import { withTransaction } from '../../src/db/transaction.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

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

describe('storeDeadLetters (issue 18: a resend adds no second letter)', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let n = 0;
  const id = (prefix: string) => `${prefix}-${++n}`;

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
  });
  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  const rejection = (index: number, eventId: string | null, code: Rejection['code'], message = 'why'): Rejection => ({
    index,
    eventId,
    code,
    message,
  });
  const store = (stream: 'activity' | 'inventory', ...batches: RejectedBatch[]) =>
    withTransaction(pool, (tx) => storeDeadLetters(tx, stream, batches));
  const lettersOf = async (text: string) =>
    (
      await pool.query<{ stream: string; event_id: string | null; batch_index: number; code: string; message: string }>(
        `SELECT stream, event_id, batch_index, code, message FROM dead_letters
          WHERE payload::text LIKE '%' || $1 || '%' ORDER BY id`,
        [text],
      )
    ).rows;

  it('stores a resent rejection (same stream, code and item) once, keeping the first letter', async () => {
    const eventId = id('e');
    const item = { eventId, userId: 'u', type: 'PURCHASE', productId: 'p' };
    await store('activity', { errors: [rejection(1, eventId, 'MISSING_PRICE', 'first')], inputs: [{}, item] });
    await store('activity', { errors: [rejection(0, eventId, 'MISSING_PRICE', 'second')], inputs: [item] });
    // Another group, the same item at another index, its keys in another order.
    const reordered = { productId: 'p', type: 'PURCHASE', userId: 'u', eventId };
    await store('activity', { errors: [rejection(2, eventId, 'MISSING_PRICE', 'third')], inputs: [{}, {}, reordered] });
    expect(await lettersOf(eventId)).toEqual([
      { stream: 'activity', event_id: eventId, batch_index: 1, code: 'MISSING_PRICE', message: 'first' },
    ]);
  });

  it('stores the same item twice in one group (one statement) once', async () => {
    const eventId = id('e');
    const item = { eventId, quantity: -1 };
    await store(
      'activity',
      { errors: [rejection(0, eventId, 'INVALID_QUANTITY')], inputs: [item] },
      { errors: [rejection(0, eventId, 'INVALID_QUANTITY')], inputs: [item] },
    );
    expect(await lettersOf(eventId)).toHaveLength(1);
  });

  it('keeps a letter of its own for other content, another code or another stream', async () => {
    const eventId = id('e');
    const item = { eventId, productId: 'p', quantity: -1 };
    await store('activity', { errors: [rejection(0, eventId, 'INVALID_QUANTITY')], inputs: [item] });
    await store('activity', {
      errors: [rejection(0, eventId, 'INVALID_QUANTITY')],
      inputs: [{ ...item, quantity: -2 }],
    });
    await store('activity', { errors: [rejection(0, eventId, 'EVENT_ID_CONFLICT')], inputs: [item] });
    await store('inventory', { errors: [rejection(0, eventId, 'INVALID_QUANTITY')], inputs: [item] });
    expect((await lettersOf(eventId)).map((l) => [l.stream, l.code])).toEqual([
      ['activity', 'INVALID_QUANTITY'],
      ['activity', 'INVALID_QUANTITY'],
      ['activity', 'EVENT_ID_CONFLICT'],
      ['inventory', 'INVALID_QUANTITY'],
    ]);
  });

  it('tells rejections without an eventId apart by their raw item: the same item once, another one again', async () => {
    const marker = id('no-id');
    const item = { userId: marker, eventId: 42 };
    await store('activity', { errors: [rejection(0, null, 'INVALID_EVENT_ID')], inputs: [item] });
    await store('activity', { errors: [rejection(3, null, 'INVALID_EVENT_ID')], inputs: [{}, {}, {}, item] });
    await store('activity', { errors: [rejection(0, null, 'INVALID_EVENT_ID')], inputs: [{ ...item, eventId: 43 }] });
    expect((await lettersOf(marker)).map((l) => [l.event_id, l.batch_index])).toEqual([
      [null, 0],
      [null, 0],
    ]);
  });

  it('a resend racing a first store that has not committed yet adds nothing', async () => {
    const eventId = id('e');
    const item = { eventId, quantity: 0 };
    const batch = { errors: [rejection(0, eventId, 'INVALID_QUANTITY')], inputs: [item] };
    const first = await pool.connect();
    try {
      await first.query('BEGIN');
      await storeDeadLetters(first, 'activity', [batch]);
      const second = store('activity', batch); // if it gets there first, it waits on the unique index
      await first.query('COMMIT');
      await second;
    } finally {
      first.release();
    }
    expect(await lettersOf(eventId)).toHaveLength(1);
  });
});
