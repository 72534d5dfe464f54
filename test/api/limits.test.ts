// Every limit, just under and just over: each refusal is a clear error and is counted in /metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { closeAllClients, gql, subscribe, wsClient } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({
    env: {
      MAX_QUERY_DEPTH: '3',
      MAX_ALIASES: '2',
      MAX_TOKENS: '60',
      MAX_BATCH_OPERATIONS: '2',
      MAX_WS_CONNECTIONS_PER_CREDENTIAL: '2',
      MAX_SUBSCRIPTIONS_PER_CONNECTION: '2',
      CONNECTION_INIT_TIMEOUT_MS: '300',
      INGEST_EVENTS_PER_SECOND: '1',
      INGEST_BURST: '10',
      MAX_BATCH_SIZE: '10',
    },
  });
});
afterAll(async () => {
  await closeAllClients();
  await disposeAll();
});

const post = (body: string, contentType = 'application/json') =>
  fetch(server.url, { method: 'POST', headers: { 'content-type': contentType }, body });

async function refusals(): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.httpBase}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^shopstream_limit_refusals_total\{limit="([a-z_]+)"\} (\d+)/gm)) {
    counts[match[1] as string] = Number(match[2]);
  }
  return counts;
}

describe('query limits (graphql-armor)', () => {
  it('allows a query at the depth limit and refuses one deeper', async () => {
    expect((await gql(server.url, '{ userActivity { pageInfo { endCursor } } }')).errors).toBeUndefined();
    const over = await gql(server.url, '{ userActivity { edges { node { eventId } } } }');
    expect(over.errors?.[0]?.message).toMatch(/depth/i);
    expect(over.errors?.[0]?.message).not.toMatch(/Syntax Error/);
    expect(over.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_DEEP');
    expect((await refusals()).query_depth).toBeGreaterThanOrEqual(1);
  });

  it('refuses more aliases than MAX_ALIASES', async () => {
    expect(
      (
        await gql(
          server.url,
          '{ a: userActivity { pageInfo { endCursor } } b: userActivity { pageInfo { endCursor } } }',
        )
      ).errors,
    ).toBeUndefined();
    const over = await gql(
      server.url,
      '{ a: userActivity { pageInfo { endCursor } } b: userActivity { pageInfo { endCursor } } c: userActivity { pageInfo { endCursor } } }',
    );
    expect(over.errors?.[0]?.message).toMatch(/aliases/i);
    expect(over.errors?.[0]?.extensions?.code).toBe('TOO_MANY_ALIASES');
    expect((await refusals()).query_aliases).toBeGreaterThanOrEqual(1);
  });

  it('refuses a document over MAX_TOKENS', async () => {
    expect((await gql(server.url, '{ userActivity { pageInfo { endCursor hasNextPage } } }')).errors).toBeUndefined();
    const over = await gql(
      server.url,
      `{ userActivity { pageInfo { ${Array.from({ length: 60 }, () => 'endCursor').join(' ')} } } }`,
    );
    expect(over.errors?.[0]?.message).toMatch(/token/i);
    expect(over.errors?.[0]?.message).not.toMatch(/Syntax Error/);
    expect(over.errors?.[0]?.extensions?.code).toBe('TOO_MANY_TOKENS');
    expect((await refusals()).query_tokens).toBeGreaterThanOrEqual(1);
  });
});

describe('HTTP limits', () => {
  it('allows MAX_BATCH_OPERATIONS operations in one request and refuses one more', async () => {
    const ok = await post(JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]));
    expect(ok.status).toBe(200);
    const over = await post(
      JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }, { query: '{ __typename }' }]),
    );
    expect(over.status).toBe(400);
    const body = await over.json();
    expect(JSON.stringify(body)).toMatch(/Batching is limited to 2 operations/);
    expect((await refusals()).batch_operations).toBeGreaterThanOrEqual(1);
  });

  it('refuses a cross-site style POST (form or text/plain) with 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const response = await post('{"query":"{ __typename }"}', type);
      expect(response.status).toBe(415);
      expect((await response.json()).errors[0].extensions.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
    expect((await refusals()).content_type).toBeGreaterThanOrEqual(3);
  });

  it('limits ingest per credential with a token bucket and says when to retry', async () => {
    const events = (n: number, prefix: string) =>
      Array.from({ length: n }, (_, i) => ({
        eventId: `${prefix}-${i}`,
        userId: 'rate',
        type: 'BROWSE',
        productId: 'p',
      }));
    const record = 'mutation ($e: [ActivityEventInput!]!) { recordActivity(events: $e) { accepted } }';
    const ok = await gql(server.url, record, { e: events(10, 'burst') });
    expect(ok.data?.recordActivity.accepted).toBe(10);
    const over = await gql(server.url, record, { e: events(5, 'over') });
    expect(over.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/ingest rate exceeded.*retry in \d+ s/),
      extensions: { code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) },
    });
    expect((await refusals()).ingest_rate).toBeGreaterThanOrEqual(1);
  });
});

describe('WebSocket limits', () => {
  it('allows MAX_WS_CONNECTIONS_PER_CREDENTIAL connections per credential and closes one more with 4429', async () => {
    const connected = (client: ReturnType<typeof wsClient>) =>
      new Promise<void>((resolve) => client.on('connected', () => resolve()));
    const a = wsClient(server.wsUrl);
    const b = wsClient(server.wsUrl);
    const ready = [connected(a), connected(b)];
    // Subscriptions keep the lazy clients' sockets open.
    const hold = [
      subscribe<any>(a, 'subscription { userActivity { cursor } }'),
      subscribe<any>(b, 'subscription { userActivity { cursor } }'),
    ];
    await Promise.all(ready);
    const c = wsClient(server.wsUrl);
    const third = subscribe<any>(c, '{ __typename }');
    await expect(third.next()).rejects.toThrow(/4429/);
    expect((await refusals()).ws_connections_per_credential).toBeGreaterThanOrEqual(1);
    for (const sub of hold) await sub.dispose();
  });

  it('allows MAX_SUBSCRIPTIONS_PER_CONNECTION operations on a connection and refuses one more', async () => {
    const client = wsClient(server.wsUrl);
    const subs = [
      subscribe<any>(client, 'subscription { userActivity { cursor } }'),
      subscribe<any>(client, 'subscription { userActivity { cursor } }'),
    ];
    const third = subscribe<any>(client, 'subscription { userActivity { cursor } }');
    await expect(third.next()).rejects.toThrow(/TOO_MANY_SUBSCRIPTIONS.*|at most 2 operations/);
    expect((await refusals()).subscriptions_per_connection).toBeGreaterThanOrEqual(1);
    for (const sub of subs) await sub.dispose();
  });

  it('closes a socket that sends no connection_init within CONNECTION_INIT_TIMEOUT_MS (4408)', async () => {
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    const code = await new Promise<number>((resolve) => socket.on('close', (c) => resolve(c)));
    expect(code).toBe(4408);
    await expect.poll(async () => (await refusals()).connection_init_timeout ?? 0).toBeGreaterThanOrEqual(1);
  });
});

describe('introspection', () => {
  it('can be switched off (INTROSPECTION=false), and field suggestions with it', async () => {
    const closed = await startTestServer({ env: { INTROSPECTION: 'false' } });
    const result = await gql(closed.url, '{ __schema { types { name } } }');
    expect(result.errors?.[0]?.message).toMatch(/introspection/i);
    const typo = await gql(closed.url, '{ userActivit { edges { cursor } } }');
    expect(typo.errors?.[0]?.message).not.toMatch(/Did you mean/);
    const open = await gql(server.url, '{ __schema { queryType { name } } }');
    expect(open.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
  });
});
