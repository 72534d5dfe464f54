// Invariant 5 under a reconnect storm: subscribers that resume from the same cursor share replay
// pages (src/feed/follow.ts readPage), and each still gets every item after its cursor exactly once,
// in feed order, while new events keep arriving during the replay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllClients, gql, subscribe } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const RECORD = `mutation ($events: [ActivityEventInput!]!) { recordActivity(events: $events) { accepted } }`;
const FOLLOW = `subscription ($userId: ID, $after: String) { userActivity(userId: $userId, after: $after) { cursor eventId } }`;
const PAGE = 40;
const SUBSCRIBERS = 25;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ env: { REPLAY_PAGE_SIZE: String(PAGE) } });
});
afterAll(async () => {
  await closeAllClients();
  await disposeAll();
});

const events = (user: string, from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({
    eventId: `${user}-${from + i}`,
    userId: user,
    type: 'BROWSE',
    productId: 'p',
  }));

describe('shared replay', () => {
  it('many subscribers resuming from one cursor each get every later item once, in order, while writes go on', async () => {
    const user = 'storm';
    await gql(server.url, RECORD, { events: events(user, 0, 1) });
    const page = await gql(server.url, `query ($u: ID) { userActivity(userId: $u) { pageInfo { endCursor } } }`, {
      u: user,
    });
    const after = page.data?.userActivity.pageInfo.endCursor as string;
    // Several full pages missed, in batches from two writers, so the feed interleaves them.
    await Promise.all([0, 1].map((w) => gql(server.url, RECORD, { events: events(`${user}`, 1 + w * 150, 150) })));

    const subs = Array.from({ length: SUBSCRIBERS }, () =>
      subscribe<any>(server.wsUrl, FOLLOW, { userId: user, after }),
    );
    // More arrive while the storm replays.
    const writing = (async () => {
      for (let i = 0; i < 10; i++) await gql(server.url, RECORD, { events: events(user, 301 + i * 10, 10) });
    })();
    const received = await Promise.all(subs.map((sub) => sub.take(400, 60_000)));
    await writing;

    // What the feed holds after the cursor, paged through the query (200 at a time: the cost limit).
    const expected: string[] = [];
    for (let cursor = after; expected.length < 400; ) {
      const stored = await gql(
        server.url,
        `query ($u: ID, $a: String) { userActivity(userId: $u, after: $a, first: 200) { edges { node { eventId } } pageInfo { endCursor } } }`,
        { u: user, a: cursor },
      );
      expect(stored.errors).toBeUndefined();
      expected.push(...(stored.data?.userActivity.edges ?? []).map((e: any) => e.node.eventId));
      cursor = stored.data?.userActivity.pageInfo.endCursor;
    }
    expect(expected).toHaveLength(400);
    for (const got of received) expect(got.map((d) => d.userActivity.eventId)).toEqual(expected);
    for (const sub of subs) expect(sub.pending()).toBe(0);
    await Promise.all(subs.map((sub) => sub.dispose()));
  }, 120_000);
});
