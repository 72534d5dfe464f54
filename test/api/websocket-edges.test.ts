// The edges of the WebSocket (and HTTP) surface: browser origins outside ALLOWED_ORIGINS are
// refused before the upgrade, servers (no Origin) and the server's own pages are not; a frame over
// MAX_WS_MESSAGE_BYTES closes its socket with 1009; close reasons carry no internal error text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { closeAllClients, gql, subscribe } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const ALLOWED = 'https://shop.example.com';
const MAX_WS_MESSAGE_BYTES = 4096;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({
    env: { ALLOWED_ORIGINS: ALLOWED, MAX_WS_MESSAGE_BYTES: String(MAX_WS_MESSAGE_BYTES) },
  });
});
afterAll(async () => {
  await closeAllClients();
  await disposeAll();
});

/** Opens a raw socket; resolves with the HTTP status of a refused upgrade, or 101 once open. */
function upgrade(headers: Record<string, string>): Promise<{ status: number; socket: WebSocket }> {
  const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws', { headers });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ status: 101, socket }));
    socket.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, socket }));
    socket.once('error', reject);
  });
}

function closed(socket: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
}

async function refusals(): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.httpBase}/metrics`)).text();
  return Object.fromEntries(
    [...text.matchAll(/^shopstream_limit_refusals_total\{limit="([a-z_]+)"\} (\d+)/gm)].map((m) => [
      m[1],
      Number(m[2]),
    ]),
  );
}

describe('ALLOWED_ORIGINS', () => {
  it('refuses a WebSocket upgrade from a disallowed browser origin with HTTP 403, before the upgrade', async () => {
    const { status, socket } = await upgrade({ origin: 'https://evil.example' });
    expect(status).toBe(403);
    socket.terminate();
    expect((await refusals()).origin).toBeGreaterThanOrEqual(1);
  });

  it("upgrades a socket from an allowed origin, from the server's own page, and from a server without Origin", async () => {
    const host = new URL(server.httpBase).host;
    const cases: Record<string, string>[] = [{ origin: ALLOWED }, { origin: `http://${host}` }, {}];
    for (const headers of cases) {
      const { status, socket } = await upgrade(headers);
      expect(status, JSON.stringify(headers)).toBe(101);
      const done = closed(socket);
      socket.close(1000);
      await done;
    }
  });

  it('refuses an HTTP request from a disallowed browser origin with 403 FORBIDDEN_ORIGIN, and serves an allowed one', async () => {
    const refused = await gql(server.url, '{ __typename }', undefined, { origin: 'https://evil.example' });
    expect(refused.status).toBe(403);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN_ORIGIN');
    expect(refused.errors?.[0]?.message).toMatch(/ALLOWED_ORIGINS/);
    const allowed = await gql(server.url, '{ __typename }', undefined, { origin: ALLOWED });
    expect(allowed.data).toEqual({ __typename: 'Query' });
    expect((await gql(server.url, '{ __typename }')).data).toEqual({ __typename: 'Query' });
  });
});

describe('incoming messages', () => {
  it('closes a socket whose frame is over MAX_WS_MESSAGE_BYTES with 1009, and the server goes on', async () => {
    const { socket } = await upgrade({});
    const done = closed(socket);
    socket.send(JSON.stringify({ type: 'connection_init', payload: { pad: 'x'.repeat(MAX_WS_MESSAGE_BYTES) } }));
    const { code, reason } = await done;
    expect(code).toBe(1009);
    expect(reason).not.toMatch(/Error|payload|at .+:\d+/i);
    await expect.poll(async () => (await refusals()).ws_message_size ?? 0).toBeGreaterThanOrEqual(1);
    const sub = subscribe<{ __typename: string }>(server.wsUrl, '{ __typename }');
    expect((await sub.next()).data).toEqual({ __typename: 'Query' });
    await sub.dispose();
  });

  it('accepts a message just under MAX_WS_MESSAGE_BYTES', async () => {
    const pad = 'x'.repeat(MAX_WS_MESSAGE_BYTES - 200);
    const sub = subscribe<{ __typename: string }>(server.wsUrl, `{ __typename } # ${pad}`);
    expect((await sub.next()).data).toEqual({ __typename: 'Query' });
    await sub.dispose();
  });

  it('closes with a fixed reason on a message that is not the protocol, never with internal error text', async () => {
    const { socket } = await upgrade({});
    const done = closed(socket);
    socket.send('{"type":');
    expect(await done).toEqual({ code: 4400, reason: 'Invalid message received' });
  });

  it("cuts a long close reason to the protocol's 123 bytes instead of failing the close", async () => {
    const { socket } = await upgrade({});
    const done = closed(socket);
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise((resolve) => socket.once('message', resolve));
    const id = 'i'.repeat(300);
    const subscribeMessage = JSON.stringify({
      type: 'subscribe',
      id,
      payload: { query: 'subscription { userActivity { cursor } }' },
    });
    socket.send(subscribeMessage);
    socket.send(subscribeMessage);
    const { code, reason } = await done;
    expect(code).toBe(4409);
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    expect(reason).toMatch(/^Subscriber for i+\.\.\.$/);
  });
});
