import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const RECORD = `mutation ($events: [ActivityEventInput!]!) {
  recordActivity(events: $events) { accepted duplicates errors { index eventId code message } }
}`;
const ACTIVITY = `query ($userId: ID, $types: [ActivityType!], $productId: ID, $from: DateTime, $to: DateTime, $first: Int, $after: String) {
  userActivity(userId: $userId, types: $types, productId: $productId, from: $from, to: $to, first: $first, after: $after) {
    edges { cursor node { eventId userId type productId quantity unitPrice currency orderId occurredAt } }
    pageInfo { hasNextPage endCursor }
  }
}`;

let server: TestServer;
let n = 0;
const id = (prefix: string) => `${prefix}-${++n}`;

beforeAll(async () => {
  server = await startTestServer({ env: { MAX_BATCH_SIZE: '50', MAX_BODY_BYTES: '20000' } });
});
afterAll(disposeAll);

const record = (events: unknown[]) => gql(server.url, RECORD, { events });

describe('recordActivity', () => {
  it('stores a valid batch and answers with the count', async () => {
    const user = id('user');
    const result = await record([
      { eventId: id('e'), userId: user, type: 'BROWSE', productId: '101' },
      { eventId: id('e'), userId: user, type: 'ADD_TO_CART', productId: '102', quantity: 2 },
      {
        eventId: id('e'),
        userId: user,
        type: 'PURCHASE',
        productId: '103',
        unitPrice: '19.99',
        orderId: 'o1',
        occurredAt: '2026-11-25T10:00:00Z',
      },
    ]);
    expect(result.errors).toBeUndefined();
    expect(result.data?.recordActivity).toEqual({ accepted: 3, duplicates: 0, errors: [] });

    const stored = await gql(server.url, ACTIVITY, { userId: user });
    const nodes = stored.data?.userActivity.edges.map((e: any) => e.node);
    expect(nodes).toEqual([
      expect.objectContaining({ type: 'BROWSE', productId: '101', quantity: 1, unitPrice: null, currency: null }),
      expect.objectContaining({ type: 'ADD_TO_CART', productId: '102', quantity: 2 }),
      expect.objectContaining({
        type: 'PURCHASE',
        unitPrice: '19.99',
        currency: 'USD',
        orderId: 'o1',
        occurredAt: '2026-11-25T10:00:00.000Z',
      }),
    ]);
  });

  it('stores the valid events of a mixed batch and reports each rejected one by index', async () => {
    const user = id('user');
    const bad = id('bad');
    const result = await record([
      { eventId: id('e'), userId: user, type: 'BROWSE', productId: '101' },
      { eventId: bad, userId: user, type: 'PURCHASE', productId: '103', quantity: 1 },
      { eventId: id('e'), userId: user, type: 'ADD_TO_CART', productId: '102', quantity: -1 },
      { eventId: id('e'), userId: user, type: 'BROWSE', productId: '104' },
    ]);
    expect(result.data?.recordActivity).toMatchObject({
      accepted: 2,
      duplicates: 0,
      errors: [
        { index: 1, eventId: bad, code: 'MISSING_PRICE', message: expect.stringContaining('unitPrice') },
        { index: 2, code: 'INVALID_QUANTITY', message: expect.stringContaining('got -1') },
      ],
    });
    const stored = await gql(server.url, ACTIVITY, { userId: user });
    expect(stored.data?.userActivity.edges.map((e: any) => e.node.productId)).toEqual(['101', '104']);

    const letters = await gql(server.url, '{ deadLetters(stream: activity) { eventId index code message payload } }');
    expect(letters.data?.deadLetters).toContainEqual(
      expect.objectContaining({
        eventId: bad,
        index: 1,
        code: 'MISSING_PRICE',
        payload: expect.stringContaining('"productId":"103"'),
      }),
    );
  });

  it('counts a repeated eventId with the same content as a duplicate, within a batch and across batches, and changes nothing', async () => {
    const user = id('user');
    const [a, b] = [id('e'), id('e')];
    const first = await record([
      { eventId: a, userId: user, type: 'BROWSE', productId: '1' },
      { eventId: a, userId: user, type: 'BROWSE', productId: '1' },
      { eventId: b, userId: user, type: 'BROWSE', productId: '3' },
    ]);
    expect(first.data?.recordActivity).toMatchObject({ accepted: 2, duplicates: 1 });
    const again = await record([
      { eventId: b, userId: user, type: 'BROWSE', productId: '3' },
      { eventId: a, userId: user, type: 'BROWSE', productId: '1' },
    ]);
    expect(again.data?.recordActivity).toEqual({ accepted: 0, duplicates: 2, errors: [] });
    const stored = await gql(server.url, ACTIVITY, { userId: user });
    expect(stored.data?.userActivity.edges.map((e: any) => e.node.productId)).toEqual(['1', '3']);
  });

  it('rejects an eventId reused with other content (EVENT_ID_CONFLICT, by index), within a batch and across batches, and changes nothing', async () => {
    const user = id('user');
    const [a, b] = [id('e'), id('e')];
    const first = await record([
      { eventId: a, userId: user, type: 'BROWSE', productId: '1' },
      { eventId: a, userId: user, type: 'BROWSE', productId: '2' },
      { eventId: b, userId: user, type: 'BROWSE', productId: '3' },
    ]);
    expect(first.data?.recordActivity).toEqual({
      accepted: 2,
      duplicates: 0,
      errors: [{ index: 1, eventId: a, code: 'EVENT_ID_CONFLICT', message: expect.stringContaining('index 0') }],
    });
    const again = await record([
      { eventId: b, userId: user, type: 'PURCHASE', productId: '9', unitPrice: '5.00' },
      { eventId: a, userId: user, type: 'BROWSE', productId: '1' },
    ]);
    expect(again.data?.recordActivity).toEqual({
      accepted: 0,
      duplicates: 1,
      errors: [{ index: 0, eventId: b, code: 'EVENT_ID_CONFLICT', message: expect.stringContaining('other content') }],
    });
    const stored = await gql(server.url, ACTIVITY, { userId: user });
    expect(stored.data?.userActivity.edges.map((e: any) => e.node.productId)).toEqual(['1', '3']);
    const letters = await gql(server.url, '{ deadLetters(stream: activity) { eventId code index } }');
    expect(letters.data?.deadLetters).toEqual(
      expect.arrayContaining([
        { eventId: a, code: 'EVENT_ID_CONFLICT', index: 1 },
        { eventId: b, code: 'EVENT_ID_CONFLICT', index: 0 },
      ]),
    );
  });

  it('a resent batch reports its rejections every time but adds no second dead letter (issue 18)', async () => {
    const user = id('user');
    const [bad, conflicting, valid] = [id('e'), id('e'), id('e')];
    const batch = [
      { eventId: valid, userId: user, type: 'BROWSE', productId: '1' },
      { eventId: bad, userId: user, type: 'PURCHASE', productId: '2' },
      { eventId: conflicting, userId: user, type: 'BROWSE', productId: '3' },
      { eventId: conflicting, userId: user, type: 'BROWSE', productId: '4' },
      // No usable eventId: the letter is told apart by the raw item.
      { eventId: '', userId: user, type: 'BROWSE', productId: '5' },
    ];
    const expected = [
      { index: 1, eventId: bad, code: 'MISSING_PRICE' },
      { index: 3, eventId: conflicting, code: 'EVENT_ID_CONFLICT' },
      { index: 4, eventId: '', code: 'INVALID_EVENT_ID' },
    ];
    const codes = (report: any) => report.errors.map(({ index, eventId, code }: any) => ({ index, eventId, code }));
    const first = (await record(batch)).data?.recordActivity;
    expect(first).toMatchObject({ accepted: 2, duplicates: 0 });
    expect(codes(first)).toEqual(expected);
    for (let i = 0; i < 2; i++) {
      const again = (await record(batch)).data?.recordActivity;
      expect(again).toMatchObject({ accepted: 0, duplicates: 2 });
      expect(codes(again)).toEqual(expected);
    }
    // The same items in another batch, at other indexes: still the same letters.
    await record([batch[4], batch[3], batch[1]]);
    // An item without an eventId but with other content is a letter of its own.
    await record([{ ...batch[4], productId: '6' }]);

    const letters = await gql(
      server.url,
      '{ deadLetters(stream: activity, first: 500) { eventId index code payload } }',
    );
    const mine = letters.data?.deadLetters.filter((l: any) => JSON.parse(l.payload).userId === user);
    expect(
      mine
        .map(({ eventId, index, code }: any) => ({ eventId, index, code }))
        .sort((a: any, b: any) => a.index - b.index),
    ).toEqual([{ eventId: '', index: 0, code: 'INVALID_EVENT_ID' }, ...expected]);
  });

  it('a resend that leaves occurredAt out is a duplicate, though its arrival time differs', async () => {
    const event = { eventId: id('e'), userId: id('user'), type: 'BROWSE', productId: '1' };
    expect((await record([event])).data?.recordActivity).toMatchObject({ accepted: 1 });
    expect((await record([event])).data?.recordActivity).toMatchObject({ accepted: 0, duplicates: 1, errors: [] });
  });

  it('refuses a batch over MAX_BATCH_SIZE as a whole and stores nothing of it', async () => {
    const user = id('user');
    const events = Array.from({ length: 51 }, () => ({
      eventId: id('e'),
      userId: user,
      type: 'BROWSE',
      productId: '1',
    }));
    const result = await record(events);
    expect(result.errors?.[0]).toMatchObject({
      message: expect.stringContaining('at most 50 events, this one has 51'),
      extensions: { code: 'BATCH_TOO_LARGE', limit: 50, size: 51 },
    });
    const stored = await gql(server.url, ACTIVITY, { userId: user });
    expect(stored.data?.userActivity.edges).toEqual([]);
  });

  it('refuses a body over MAX_BODY_BYTES with 413 and a message naming the limit', async () => {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: RECORD, variables: { padding: 'x'.repeat(30_000) } }),
    });
    expect(response.status).toBe(413);
    const body = await response.json();
    expect(body.errors[0]).toMatchObject({
      extensions: { code: 'PAYLOAD_TOO_LARGE' },
      message: expect.stringContaining('MAX_BODY_BYTES'),
    });
  });

  it('refuses a body that is not JSON with a clear error', async () => {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query": ',
    });
    expect(response.status).toBe(400);
    const body = await response.json();
    expect(body.errors[0].message).toMatch(/JSON/i);
  });

  it('refuses a document that is not GraphQL, naming where', async () => {
    const result = await gql(server.url, 'mutation { recordActivity(events: [{ eventId: }]) { accepted } }');
    expect(result.status).toBe(400);
    expect(result.errors?.[0]?.message).toMatch(/Syntax Error/);
  });

  it('refuses a float as Money: a price must be a decimal string', async () => {
    const result = await gql(server.url, RECORD, {
      events: [{ eventId: id('e'), userId: 'u', type: 'PURCHASE', productId: '1', unitPrice: 19.99 }],
    });
    expect(result.errors?.[0]?.message).toMatch(/Money must be a decimal string/);
  });

  it('refuses variables of the wrong shape with messages naming the variable and the path, and stores nothing', async () => {
    const user = `shape-${id('u')}`;
    const result = await gql(server.url, RECORD, {
      events: [
        { eventId: id('e'), userId: user, type: 'BROWSE', productId: 'p-1', quantity: 'two' },
        { eventId: id('e'), userId: user, productId: 'p-1' },
      ],
    });
    expect(result.data).toBeUndefined();
    expect(result.errors?.map((e) => e.message)).toEqual([
      'Variable "$events" got invalid value "two" at "events[0].quantity"; Int cannot represent non-integer value: "two"',
      expect.stringMatching(
        /^Variable "\$events" got invalid value .* at "events\[1\]"; Field "type" of required type "ActivityType!" was not provided\.$/,
      ),
    ]);
    const stored = await gql(server.url, ACTIVITY, { userId: user });
    expect(stored.data?.userActivity.edges).toEqual([]);
  });
});

describe('userActivity query', () => {
  it('filters by user, types, product and time range, oldest first', async () => {
    const user = id('user');
    await record([
      { eventId: id('e'), userId: user, type: 'BROWSE', productId: 'A', occurredAt: '2026-01-01T00:00:00Z' },
      { eventId: id('e'), userId: user, type: 'ADD_TO_CART', productId: 'A', occurredAt: '2026-01-02T00:00:00Z' },
      { eventId: id('e'), userId: user, type: 'BROWSE', productId: 'B', occurredAt: '2026-01-03T00:00:00Z' },
      { eventId: id('e'), userId: 'someone-else', type: 'BROWSE', productId: 'A', occurredAt: '2026-01-02T00:00:00Z' },
    ]);
    const products = async (variables: Record<string, unknown>) => {
      const result = await gql(server.url, ACTIVITY, { userId: user, ...variables });
      return result.data?.userActivity.edges.map((e: any) => `${e.node.type}:${e.node.productId}`);
    };
    expect(await products({})).toEqual(['BROWSE:A', 'ADD_TO_CART:A', 'BROWSE:B']);
    expect(await products({ types: ['BROWSE'] })).toEqual(['BROWSE:A', 'BROWSE:B']);
    expect(await products({ productId: 'A' })).toEqual(['BROWSE:A', 'ADD_TO_CART:A']);
    expect(await products({ from: '2026-01-02T00:00:00Z', to: '2026-01-03T00:00:00Z' })).toEqual(['ADD_TO_CART:A']);
  });

  it('pages with first and after, without gaps or repeats', async () => {
    const user = id('user');
    const events = Array.from({ length: 7 }, (_, i) => ({
      eventId: id('e'),
      userId: user,
      type: 'BROWSE',
      productId: `p${i}`,
    }));
    await record(events);
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const result: { data?: Record<string, any> } = await gql(server.url, ACTIVITY, { userId: user, first: 3, after });
      const connection: any = result.data?.userActivity;
      seen.push(...connection.edges.map((e: any) => e.node.productId));
      after = connection.pageInfo.endCursor;
      if (!connection.pageInfo.hasNextPage) break;
    }
    expect(seen).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
  });

  it('refuses a malformed cursor and a page size out of range with BAD_USER_INPUT', async () => {
    const badCursor = await gql(server.url, ACTIVITY, { after: 'nope' });
    expect(badCursor.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT' },
      message: expect.stringContaining('is not a cursor'),
    });
    const tooMany = await gql(server.url, ACTIVITY, { first: 10_000 });
    expect(tooMany.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT' },
      message: expect.stringContaining('first must be'),
    });
  });
});
