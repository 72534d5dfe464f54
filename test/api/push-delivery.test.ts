// Push delivery (issue 14): feed subscriptions are executed and serialized once per group of
// identical subscriptions and written to every socket of the group; each socket still gets its own
// operation id, its own backpressure, and its own end.
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { closeAllClients, gql, subscribe } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const QUEUE_LIMIT = 200;
/** Enough items (of about 300 bytes) to fill the kernel's socket buffers (about 4 MB here) behind a client that stopped reading. */
const TOTAL = 20_000;
/** Long product ids make large frames, so the buffers fill with fewer events (and before a keep-alive ping is missed). */
const productIdOf = (n: number) => String(n).padStart(190, '0');
const FOLLOW = `subscription ($userId: ID, $after: String) { userActivity(userId: $userId, after: $after) { cursor productId } }`;
const RECORD = 'mutation ($e: [ActivityEventInput!]!) { recordActivity(events: $e) { accepted } }';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ env: { SUBSCRIBER_QUEUE_LIMIT: String(QUEUE_LIMIT) } });
});
afterAll(async () => {
  await closeAllClients();
  await disposeAll();
});

async function send(userId: string, count: number, { batchSize = 500, from = 0, long = false } = {}) {
  for (let start = 0; start < count; start += batchSize) {
    const events = Array.from({ length: Math.min(batchSize, count - start) }, (_, i) => {
      const n = from + start + i;
      return { eventId: `${userId}-${n}`, userId, type: 'BROWSE', productId: long ? productIdOf(n) : String(n) };
    });
    const result = await gql(server.url, RECORD, { e: events });
    expect(result.errors).toBeUndefined();
  }
}

/** A graphql-transport-ws client on a plain socket: the frames exactly as the server wrote them. */
class RawClient {
  readonly socket: WebSocket;
  readonly frames: string[] = [];
  /** The frames parsed, once each as they arrive. */
  readonly parsed: any[] = [];
  private onFrame = () => {};

  constructor() {
    this.socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    this.socket.on('message', (data) => {
      const frame = String(data);
      this.frames.push(frame);
      this.parsed.push(JSON.parse(frame));
      this.onFrame();
    });
  }

  async open(): Promise<void> {
    await new Promise((resolve, reject) => {
      this.socket.once('open', resolve);
      this.socket.once('error', reject);
    });
    this.socket.send(JSON.stringify({ type: 'connection_init' }));
    await this.until(() => this.messages().some((m) => m.type === 'connection_ack'), 'connection_ack');
  }

  subscribe(id: string, variables: Record<string, unknown>): void {
    this.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query: FOLLOW, variables } }));
  }

  messages(): any[] {
    return this.parsed;
  }

  items(): any[] {
    return this.messages()
      .filter((m) => m.type === 'next' && m.payload.data)
      .map((m) => m.payload.data.userActivity);
  }

  until(predicate: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.onFrame = () => {};
        reject(new Error(`timed out waiting for ${what}; last frames ${JSON.stringify(this.frames.slice(-2))}`));
      }, timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.onFrame = () => {};
        resolve();
      };
      this.onFrame = check;
      check();
    });
  }

  close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.close();
    });
  }
}

/**
 * A subscription without a cursor starts "from now": send markers until every client has one,
 * then one last marker, and read up to it; after that nothing stale is left in flight.
 */
async function untilLive(clients: RawClient[], userId: string): Promise<void> {
  const marker = (name: string) =>
    gql(server.url, RECORD, { e: [{ eventId: `${userId}-${name}`, userId, type: 'BROWSE', productId: name }] });
  for (let attempt = 0; ; attempt++) {
    if (attempt === 100) throw new Error('the subscriptions never went live');
    await marker(`marker-${attempt}`);
    const live = await Promise.all(
      clients.map((c) =>
        c
          .until(() => c.items().length > 0, 'a marker', 250)
          .then(() => true)
          .catch(() => false),
      ),
    );
    if (live.every(Boolean)) break;
  }
  await marker('marker-last');
  await Promise.all(
    clients.map((c) => c.until(() => c.items().some((i) => i.productId === 'marker-last'), 'the last marker')),
  );
  for (const client of clients) {
    client.frames.length = 0;
    client.parsed.length = 0;
  }
}

describe('push delivery over graphql-ws', () => {
  it('every socket of a group gets the same payload, serialized once, under its own operation id', async () => {
    const user = 'same-frame';
    // Ids that need escaping in JSON: the frame is built by concatenation, so this proves the quoting.
    const ids = ['1', '1', 'sub "two"', 'ünï\\code'];
    const clients = ids.map(() => new RawClient());
    await Promise.all(clients.map((c) => c.open()));
    for (const [i, c] of clients.entries()) c.subscribe(ids[i] as string, { userId: user });
    await untilLive(clients, user);

    await send(user, 3);
    await Promise.all(clients.map((c) => c.until(() => c.items().length === 3, 'three items')));
    const payloads = clients.map((c) => c.frames.map((frame) => JSON.parse(frame).payload));
    for (const [i, c] of clients.entries()) {
      for (const [n, frame] of c.frames.entries()) {
        // Exactly the graphql-ws `next` message, byte for byte what JSON.stringify would give.
        expect(frame).toBe(JSON.stringify({ id: ids[i], type: 'next', payload: payloads[0]?.[n] }));
      }
    }
    expect(new Set(payloads.map((p) => JSON.stringify(p))).size).toBe(1);
    expect(clients[0]?.items().map((item) => item.productId)).toEqual(['0', '1', '2']);
    await Promise.all(clients.map((c) => c.close()));
  });

  it('a subscriber that completes stops getting items; the rest of its group goes on', async () => {
    const user = 'leaves-group';
    const stays = new RawClient();
    const leaves = new RawClient();
    await Promise.all([stays.open(), leaves.open()]);
    stays.subscribe('1', { userId: user });
    leaves.subscribe('1', { userId: user });
    await untilLive([stays, leaves], user);

    leaves.socket.send(JSON.stringify({ id: '1', type: 'complete' }));
    // A second operation on the same socket, in another group (a cursor), is unaffected too.
    const page = await gql(server.url, `{ userActivity(userId: "${user}") { pageInfo { endCursor } } }`);
    leaves.subscribe('2', { userId: user, after: page.data?.userActivity.pageInfo.endCursor });
    await send(user, 5, { from: 100 });
    await stays.until(() => stays.items().length === 5, 'five items');
    await leaves.until(() => leaves.messages().filter((m) => m.id === '2' && m.type === 'next').length === 5, '2');
    expect(leaves.messages().filter((m) => m.id === '1' && m.type === 'next')).toEqual([]);
    expect(stays.items().map((i) => i.productId)).toEqual(['100', '101', '102', '103', '104']);
    await Promise.all([stays.close(), leaves.close()]);
  });

  it('a socket that stops reading is ended with RESYNC_REQUIRED alone; its group gets everything in order', async () => {
    const user = 'slow-in-group';
    const reader = new RawClient();
    const stalled = new RawClient();
    await Promise.all([reader.open(), stalled.open()]);
    reader.subscribe('1', { userId: user });
    stalled.subscribe('1', { userId: user });
    await untilLive([reader, stalled], user);

    const raw = (stalled.socket as unknown as { _socket: Socket })._socket;
    raw.pause();
    await send(user, TOTAL, { batchSize: 1000, long: true });
    raw.resume();
    await stalled.until(() => stalled.parsed.at(-1)?.type === 'complete', 'complete');
    await reader.until(() => reader.parsed.length === TOTAL, `${TOTAL} items`);

    expect(reader.items().map((i) => Number(i.productId))).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
    expect(reader.messages().some((m) => m.type === 'complete' || m.payload?.errors)).toBe(false);
    const items = stalled.items();
    const ending = stalled.messages().find((m) => m.type === 'next' && m.payload.errors);
    expect(items.length).toBeLessThan(TOTAL);
    expect(items.map((i) => Number(i.productId))).toEqual(Array.from({ length: items.length }, (_, i) => i));
    expect(ending.payload.errors[0]).toMatchObject({
      extensions: { code: 'RESYNC_REQUIRED', cursor: items.at(-1).cursor },
    });

    // Resuming from that cursor gives the rest, no gap, no duplicate.
    const rest = subscribe<any>(server.wsUrl, FOLLOW, {
      userId: user,
      after: ending.payload.errors[0].extensions.cursor,
    });
    const more = await rest.take(TOTAL - items.length, 60_000);
    expect(more.map((d) => Number(d.userActivity.productId))).toEqual(
      Array.from({ length: TOTAL - items.length }, (_, i) => items.length + i),
    );
    await rest.dispose();
    await Promise.all([reader.close(), stalled.close()]);
  }, 180_000);
});

describe('SSE subscribers of one group', () => {
  it('get the same event, each on its own stream, and a viewer’s filter still applies', async () => {
    const [user, other] = ['sse-group', 'sse-other'];
    const open = async () => {
      const controller = new AbortController();
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ query: FOLLOW, variables: { userId: user, after: null } }),
        signal: controller.signal,
      });
      expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      const stream = { text: '', controller };
      const readUntil = async (needle: string) => {
        while (!stream.text.includes(needle)) {
          const chunk = await reader.read();
          if (chunk.done) throw new Error(`stream ended before ${needle}`);
          stream.text += chunk.value;
        }
      };
      return Object.assign(stream, { readUntil });
    };
    const streams = [await open(), await open()];
    // Markers until both are live (a subscription without cursor starts now).
    for (let attempt = 0; ; attempt++) {
      if (attempt === 100) throw new Error('the SSE subscriptions never went live');
      await send(user, 1, { from: 2_000_000 + attempt });
      const live = await Promise.all(
        streams.map((s) =>
          Promise.race([
            s.readUntil('"productId"').then(() => true),
            new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 250)),
          ]),
        ),
      );
      if (live.every(Boolean)) break;
    }
    await send(other, 1, { from: 7 });
    await send(user, 1, { from: 42 });
    await Promise.all(streams.map((s) => s.readUntil('"productId":"42"')));
    const lineOf = (text: string) => text.split('\n').find((line) => line.includes('"productId":"42"'));
    expect(lineOf(streams[0]?.text ?? '')).toBe(lineOf(streams[1]?.text ?? ''));
    for (const s of streams) expect(s.text).not.toContain('"productId":"7"');
    for (const s of streams) s.controller.abort();
  });
});
