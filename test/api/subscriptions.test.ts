import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllClients, gql, type Subscription, subscribe, untilLive } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const RECORD = `mutation ($events: [ActivityEventInput!]!) { recordActivity(events: $events) { accepted duplicates } }`;
const FOLLOW = `subscription ($userId: ID, $types: [ActivityType!], $after: String) {
  userActivity(userId: $userId, types: $types, after: $after) { cursor eventId userId type productId }
}`;
type Followed = { userActivity: { cursor: string; eventId: string; userId: string; type: string; productId: string } };

let server: TestServer;
let n = 0;
const id = (prefix: string) => `${prefix}-${++n}`;
const record = (events: unknown[]) => gql(server.url, RECORD, { events });
const browse = (userId: string, productId = 'p', type = 'BROWSE') => ({ eventId: id('e'), userId, type, productId });

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await closeAllClients();
  await disposeAll();
});

const live = (sub: Subscription<Followed>, userId: string) =>
  untilLive(
    sub,
    (marker) => record([browse(userId, marker)]),
    (data) => data.userActivity.productId,
  );

describe('userActivity subscription over graphql-ws', () => {
  it('delivers only the events of the requested user and types, each with a cursor', async () => {
    const [alice, bob] = [id('alice'), id('bob')];
    const sub = subscribe<Followed>(server.wsUrl, FOLLOW, { userId: alice, types: ['BROWSE', 'PURCHASE'] });
    await live(sub, alice);
    await record([browse(bob, 'b1'), browse(alice, 'a-cart', 'ADD_TO_CART'), browse(alice, 'a1'), browse(bob, 'b2')]);
    await record([{ ...browse(alice, 'a2', 'PURCHASE'), unitPrice: '1.00' }]);
    const got = await sub.take(2);
    expect(got.map((d) => d.userActivity.productId)).toEqual(['a1', 'a2']);
    expect(got.every((d) => d.userActivity.userId === alice && d.userActivity.cursor.length > 0)).toBe(true);
    expect(sub.pending()).toBe(0);
    await sub.dispose();
  });

  it('offers each event to its shopper’s subscribers and to the whole-shop ones; identical subscriptions get the same result', async () => {
    const [a, b, c] = [id('route-a'), id('route-b'), id('route-c')];
    const purchase = (userId: string, productId: string) => ({
      ...browse(userId, productId, 'PURCHASE'),
      unitPrice: '1.00',
    });
    const ofA = subscribe<Followed>(server.wsUrl, FOLLOW, { userId: a });
    const ofAAgain = subscribe<Followed>(server.wsUrl, FOLLOW, { userId: a });
    const ofB = subscribe<Followed>(server.wsUrl, FOLLOW, { userId: b, types: ['PURCHASE'] });
    const everyPurchase = subscribe<Followed>(server.wsUrl, FOLLOW, { types: ['PURCHASE'] });
    await live(ofA, a);
    await live(ofAAgain, a);
    await untilLive(
      ofB,
      (marker) => record([purchase(b, marker)]),
      (data) => data.userActivity.productId,
    );
    await untilLive(
      everyPurchase,
      (marker) => record([purchase(c, marker)]),
      (data) => data.userActivity.productId,
    );
    await record([browse(a, 'p1'), browse(b, 'p2'), purchase(b, 'p3'), purchase(c, 'p4'), purchase(a, 'p5')]);

    // Markers sent to make the others live may still be queued; they are not what this test counts.
    const real = async (sub: Subscription<Followed>, count: number) => {
      const got: Followed['userActivity'][] = [];
      while (got.length < count) {
        const { data } = await sub.next();
        if (!data?.userActivity.productId.startsWith('marker')) got.push((data as Followed).userActivity);
      }
      return got;
    };
    const [gotA, gotAAgain, gotB, gotAll] = [
      await real(ofA, 2),
      await real(ofAAgain, 2),
      await real(ofB, 1),
      await real(everyPurchase, 3),
    ];
    expect(gotA.map((e) => e.productId)).toEqual(['p1', 'p5']);
    expect(gotAAgain).toEqual(gotA);
    expect(gotB.map((e) => e.productId)).toEqual(['p3']);
    expect(gotAll.map((e) => e.productId)).toEqual(['p3', 'p4', 'p5']);
    for (const sub of [ofA, ofAAgain, ofB, everyPurchase]) await sub.dispose();
  });

  it('replays what was missed after a cursor, then goes live, with no gap and no duplicate while events keep arriving', async () => {
    const user = id('user');
    await record(Array.from({ length: 5 }, (_, i) => browse(user, `old-${i}`)));
    const page = await gql(
      server.url,
      `query ($u: ID) { userActivity(userId: $u, first: 2) { pageInfo { endCursor } } }`,
      { u: user },
    );
    const after = page.data?.userActivity.pageInfo.endCursor;

    // Writers keep going while the subscriber replays and joins the live stream.
    const writer = (async () => {
      for (let i = 0; i < 20; i++) await record([browse(user, `new-${i}`), browse(user, `new-${i}b`)]);
    })();
    const sub = subscribe<Followed>(server.wsUrl, FOLLOW, { userId: user, after });
    await writer;
    const expected = [
      'old-2',
      'old-3',
      'old-4',
      ...Array.from({ length: 20 }, (_, i) => [`new-${i}`, `new-${i}b`]).flat(),
    ];
    const got = await sub.take(expected.length);
    expect(got.map((d) => d.userActivity.productId)).toEqual(expected);
    await record([browse(user, 'last')]);
    expect((await sub.take(1))[0]?.userActivity.productId).toBe('last');
    expect(sub.pending()).toBe(0);
    await sub.dispose();
  });

  it('two subscribers resuming from each other’s cursors see the same tail', async () => {
    const user = id('user');
    const sub = subscribe<Followed>(server.wsUrl, FOLLOW, { userId: user });
    await live(sub, user);
    await record([browse(user, 'x'), browse(user, 'y'), browse(user, 'z')]);
    const [x, y, z] = await sub.take(3);
    const resumed = subscribe<Followed>(server.wsUrl, FOLLOW, { userId: user, after: x?.userActivity.cursor });
    expect((await resumed.take(2)).map((d) => d.userActivity.cursor)).toEqual([
      y?.userActivity.cursor,
      z?.userActivity.cursor,
    ]);
    await Promise.all([sub.dispose(), resumed.dispose()]);
  });

  it('refuses a malformed cursor with BAD_USER_INPUT instead of serving', async () => {
    const sub = subscribe<Followed>(server.wsUrl, FOLLOW, { after: 'garbage' });
    const result = await sub.next();
    expect(result.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    await sub.dispose();
  });
});

describe('userActivity subscription over SSE', () => {
  it('streams replayed and live events as server-sent events', async () => {
    const user = id('sse');
    await record([browse(user, 'first')]);
    const page = await gql(server.url, `query ($u: ID) { userActivity(userId: $u) { pageInfo { endCursor } } }`, {
      u: user,
    });
    const after = page.data?.userActivity.pageInfo.endCursor;
    await record([browse(user, 'missed')]);
    const controller = new AbortController();
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: FOLLOW, variables: { userId: user, after } }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const chunk = await reader.read();
        if (chunk.done) throw new Error(`stream ended before ${needle}`);
        text += chunk.value;
      }
    };
    await readUntil('"productId":"missed"');
    await record([browse(user, 'live')]);
    await readUntil('"productId":"live"');
    const events = text
      .split('\n')
      .filter((line) => line.startsWith('data: {"data"'))
      .map((line) => JSON.parse(line.slice(6)));
    expect(events.map((e) => e.data.userActivity.productId)).toEqual(['missed', 'live']);
    expect(text).not.toContain('"productId":"first"');
    controller.abort();
  });
});
