// Live stock and its history through the real server and real PostgreSQL: the stockMovements
// query (event time, level after each, paged, a late count and a late purchase) and the
// stockLevels subscription over graphql-ws (current levels, then changes, a late count).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllClients, gql, subscribe } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const INVENTORY = `mutation ($events: [InventoryEventInput!]!) {
  recordInventory(events: $events) { accepted errors { index code } }
}`;
const ACTIVITY = `mutation ($events: [ActivityEventInput!]!) {
  recordActivity(events: $events) { accepted errors { index code } }
}`;
const MOVEMENTS = `query ($productId: ID!, $first: Int, $after: String) {
  stockMovements(productId: $productId, first: $first, after: $after) {
    edges { cursor node { kind amount level occurredAt eventId } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const LEVELS = `subscription ($productIds: [ID!]!) { stockLevels(productIds: $productIds) { productId quantity isSet threshold } }`;

type Movement = { kind: string; amount: number; level: number | null; occurredAt: string; eventId: string };
type Level = { stockLevels: { productId: string; quantity: number; isSet: boolean; threshold: number } };

let server: TestServer;
let n = 0;
const eventId = () => `sl-${++n}`;

const count = (productId: string, quantity: number, occurredAt: string) => ({
  eventId: eventId(),
  productId,
  quantity,
  occurredAt,
});
const adjust = (productId: string, delta: number, occurredAt: string) => ({
  eventId: eventId(),
  productId,
  delta,
  occurredAt,
});
const purchase = (productId: string, quantity: number, occurredAt: string) => ({
  eventId: eventId(),
  userId: 'shopper-1',
  type: 'PURCHASE',
  productId,
  quantity,
  unitPrice: '1.00',
  occurredAt,
});

async function inventory(events: unknown[]) {
  const response = await gql(server.url, INVENTORY, { events });
  expect(response.errors).toBeUndefined();
  expect(response.data?.recordInventory.errors).toEqual([]);
}
async function activity(events: unknown[]) {
  const response = await gql(server.url, ACTIVITY, { events });
  expect(response.errors).toBeUndefined();
  expect(response.data?.recordActivity.errors).toEqual([]);
}
async function movements(productId: string, page: { first?: number; after?: string } = {}) {
  const response = await gql(server.url, MOVEMENTS, { productId, ...page });
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data?.stockMovements as {
    edges: { cursor: string; node: Movement }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}
const levels = (page: Awaited<ReturnType<typeof movements>>) =>
  page.edges.map(({ node }) => [node.kind, node.amount, node.level]);

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await closeAllClients();
  await disposeAll();
});

describe('stockMovements', () => {
  it('lists counts, adjustments and purchases in event time, each with the level after it', async () => {
    await activity([purchase('m1', 1, '2026-05-01T09:00:00Z')]); // nothing counted yet: takes nothing
    await inventory([count('m1', 10, '2026-05-01T10:00:00Z'), adjust('m1', 5, '2026-05-01T12:00:00Z')]);
    await activity([purchase('m1', 3, '2026-05-01T13:00:00Z')]);
    expect(levels(await movements('m1'))).toEqual([
      ['PURCHASE', -1, null],
      ['COUNT', 10, 10],
      ['ADJUSTMENT', 5, 15],
      ['PURCHASE', -3, 12],
    ]);
  });

  it('a late count and a late purchase change the levels after them', async () => {
    await inventory([count('m2', 20, '2026-05-02T10:00:00Z'), adjust('m2', -2, '2026-05-02T14:00:00Z')]);
    // Arrive after the adjustment, but happened before it.
    await inventory([count('m2', 8, '2026-05-02T12:00:00Z')]);
    await activity([purchase('m2', 1, '2026-05-02T11:00:00Z')]);
    expect(levels(await movements('m2'))).toEqual([
      ['COUNT', 20, 20],
      ['PURCHASE', -1, 19],
      ['COUNT', 8, 8],
      ['ADJUSTMENT', -2, 6],
    ]);
    // The level the processor keeps agrees with the last movement.
    const level = await gql(server.url, '{ stockLevels(productIds: ["m2"]) { quantity } }');
    expect(level.data?.stockLevels).toEqual([{ quantity: 6 }]);
  });

  it('pages with first and after, the level carried across pages', async () => {
    const firstPage = await movements('m2', { first: 2 });
    expect(levels(firstPage)).toEqual([
      ['COUNT', 20, 20],
      ['PURCHASE', -1, 19],
    ]);
    expect(firstPage.pageInfo.hasNextPage).toBe(true);
    const secondPage = await movements('m2', { first: 2, after: firstPage.pageInfo.endCursor as string });
    expect(levels(secondPage)).toEqual([
      ['COUNT', 8, 8],
      ['ADJUSTMENT', -2, 6],
    ]);
    expect(secondPage.pageInfo.hasNextPage).toBe(false);
    // From the middle of the first page: the level before it comes from the movements up to the cursor.
    const fromPurchase = await movements('m1', { first: 10, after: (await movements('m1')).edges[2]?.cursor });
    expect(levels(fromPurchase)).toEqual([['PURCHASE', -3, 12]]);
    // A product with no movements: an empty page.
    expect(await movements('nothing-here')).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });

  it('refuses a bad page size or cursor with BAD_USER_INPUT', async () => {
    for (const variables of [
      { productId: 'm1', first: 0 },
      { productId: 'm1', first: 501 },
      { productId: 'm1', after: 'not-a-cursor' },
      { productId: '' },
    ]) {
      const response = await gql(server.url, MOVEMENTS, variables);
      expect(response.errors?.[0]?.extensions?.code, JSON.stringify(variables)).toBe('BAD_USER_INPUT');
    }
    const response = await gql(server.url, MOVEMENTS, { productId: 'm1', after: 'not-a-cursor' });
    expect(response.errors?.[0]?.message).toMatch(/is not a stockMovements cursor/);
  });
});

describe('stockLevels subscription', () => {
  it('sends the current levels, then each change, late counts included', async () => {
    await inventory([count('s1', 7, '2026-05-03T10:00:00Z')]);
    const sub = subscribe<Level>(server.wsUrl, LEVELS, { productIds: ['s1', 's2'] });
    const first = await sub.take(2);
    expect(first.map((l) => l.stockLevels).sort((a, b) => a.productId.localeCompare(b.productId))).toEqual([
      { productId: 's1', quantity: 7, isSet: true, threshold: 10 },
      { productId: 's2', quantity: 0, isSet: false, threshold: 10 },
    ]);

    await activity([purchase('s1', 2, '2026-05-03T11:00:00Z')]);
    expect((await sub.take(1))[0]?.stockLevels).toMatchObject({ productId: 's1', quantity: 5 });

    // A late count (before the purchase) is the count plus the purchase after it.
    await inventory([count('s1', 20, '2026-05-03T10:30:00Z')]);
    expect((await sub.take(1))[0]?.stockLevels).toMatchObject({ productId: 's1', quantity: 18 });

    await inventory([adjust('s2', 4, '2026-05-03T12:00:00Z')]);
    expect((await sub.take(1))[0]?.stockLevels).toMatchObject({ productId: 's2', quantity: 4, isSet: true });
    await sub.dispose();
  });

  it('refuses an empty or too long product list with BAD_USER_INPUT', async () => {
    for (const productIds of [[], Array.from({ length: 1001 }, (_, i) => `p${i}`)]) {
      const sub = subscribe<Level>(server.wsUrl, LEVELS, { productIds });
      const result = await sub.next();
      expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(result.errors?.[0]?.message).toMatch(/productIds must name 1 to 1000 products/);
      await sub.dispose();
    }
  });
});
