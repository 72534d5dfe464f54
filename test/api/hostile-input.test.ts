// Input a hostile or broken client sends, over HTTP and WebSocket: each is refused with a clear
// error that says what was wrong and where, never with INTERNAL_SERVER_ERROR, a 5xx, a stack
// trace or SQL text. Control characters in an event are a per-event rejection, kept as a dead
// letter that is stored and readable although PostgreSQL text cannot hold NUL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAllClients, gql, subscribe } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';
import { FROM_START } from '../helpers/streams.js';

const RECORD_ACTIVITY = `mutation ($e: [ActivityEventInput!]!) {
  recordActivity(events: $e) { accepted duplicates errors { index eventId code message } }
}`;
const RECORD_INVENTORY = `mutation ($e: [InventoryEventInput!]!) {
  recordInventory(events: $e) { accepted duplicates errors { index eventId code message } }
}`;
const DEAD_LETTERS = `query ($stream: IngestStream) { deadLetters(stream: $stream, first: 500) { eventId index code message payload } }`;

let server: TestServer;
let n = 0;
const id = (prefix: string) => `${prefix}-${++n}`;
const MAX_BATCH_OPERATIONS = 3;

beforeAll(async () => {
  server = await startTestServer({ env: { MAX_BATCH_OPERATIONS: String(MAX_BATCH_OPERATIONS) } });
});
afterAll(async () => {
  await closeAllClients();
  await disposeAll();
});

const post = (body: string, contentType = 'application/json') =>
  fetch(server.url, { method: 'POST', headers: { 'content-type': contentType }, body });
const browse = (fields: Record<string, unknown> = {}) => ({
  eventId: id('e'),
  userId: 'u',
  type: 'BROWSE',
  productId: 'p',
  ...fields,
});
type Letter = { eventId: string | null; index: number; code: string; message: string; payload: string };
const deadLetters = async (stream: 'activity' | 'inventory'): Promise<Letter[]> =>
  (await gql(server.url, DEAD_LETTERS, { stream })).data?.deadLetters;

/** Whatever came back, as text, for the checks that nothing internal leaked. */
function expectNoLeak(text: string, what: string): void {
  expect(text, `${what}: ${text.slice(0, 300)}`).not.toMatch(
    /INTERNAL_SERVER_ERROR|Unexpected error|\bat .+:\d+:\d+|node_modules|\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b|invalid byte sequence|for type json/,
  );
}

describe('control characters in an event', () => {
  it('an eventId holding NUL is a per-event rejection naming the field, not an internal error; the rest of the batch is stored', async () => {
    const good = browse();
    const result = await gql(server.url, RECORD_ACTIVITY, { e: [good, browse({ eventId: 'nul\u0000id' })] });
    expect(result.errors).toBeUndefined();
    expect(result.data?.recordActivity).toEqual({
      accepted: 1,
      duplicates: 0,
      errors: [
        {
          index: 1,
          eventId: 'nul\u0000id',
          code: 'CONTROL_CHARACTER',
          message:
            'no field may contain a control character (U+0000 to U+001F): eventId "nul\\u0000id" has U+0000 at offset 3',
        },
      ],
    });
  });

  it.each([
    ['\u0000', 'U+0000'],
    ['\u0001', 'U+0001'],
    ['\t', 'U+0009'],
    ['\n', 'U+000A'],
    ['\r', 'U+000D'],
    ['\u001f', 'U+001F'],
  ])(
    '%j in any text field of an activity event is a CONTROL_CHARACTER rejection naming the field and %s',
    async (character, name) => {
      const fields = ['eventId', 'userId', 'productId', 'orderId', 'currency'];
      const events = fields.map((field) => browse({ [field]: `x${character}` }));
      const result = await gql(server.url, RECORD_ACTIVITY, { e: [...events, browse()] });
      expect(result.errors).toBeUndefined();
      const report = result.data?.recordActivity;
      expect(report.accepted).toBe(1);
      expect(report.errors).toEqual(
        fields.map((field, index) => ({
          index,
          eventId: expect.any(String),
          code: 'CONTROL_CHARACTER',
          message: expect.stringContaining(`${field} ${JSON.stringify(`x${character}`)} has ${name} at offset 1`),
        })),
      );
    },
  );

  it('control characters in an inventory event are rejected the same way', async () => {
    const result = await gql(server.url, RECORD_INVENTORY, {
      e: [
        { eventId: id('i'), productId: 'p\u0000', quantity: 5 },
        { eventId: `i\u0000${id('i')}`, productId: 'p', quantity: 5 },
        { eventId: id('i'), productId: 'stock\tp', delta: 1 },
        { eventId: id('i'), productId: 'p-ok', quantity: 5 },
      ],
    });
    expect(result.errors).toBeUndefined();
    expect(result.data?.recordInventory).toMatchObject({
      accepted: 1,
      errors: [
        { index: 0, code: 'CONTROL_CHARACTER', message: expect.stringContaining('productId "p\\u0000" has U+0000') },
        { index: 1, code: 'CONTROL_CHARACTER', message: expect.stringContaining('eventId "i\\u0000') },
        { index: 2, code: 'CONTROL_CHARACTER', message: expect.stringContaining('productId "stock\\tp" has U+0009') },
      ],
    });
  });

  it('a dead letter holding NUL is stored and readable: the NUL is kept as the text \\u0000', async () => {
    const eventId = `letter\u0000${id('e')}`;
    const sent = browse({ eventId, userId: 'u\u0000\u0001' });
    await gql(server.url, RECORD_ACTIVITY, { e: [sent] });
    const stored = `letter\\u0000${eventId.slice('letter\u0000'.length)}`;
    const letter = (await deadLetters('activity')).find((l) => l.eventId === stored);
    expect(letter).toMatchObject({ index: 0, code: 'CONTROL_CHARACTER', message: expect.stringContaining('eventId') });
    // U+0001 fits in PostgreSQL text and comes back as it was sent; NUL does not, and is escaped.
    expect(JSON.parse(letter?.payload as string)).toMatchObject({ eventId: stored, userId: 'u\\u0000\u0001' });
  });

  it('an unpaired surrogate (not Unicode) is an UNPAIRED_SURROGATE rejection, and its dead letter is stored', async () => {
    // JSON.stringify would not send a lone surrogate as such: write the escape by hand.
    const eventId = id('lone');
    const body = `{"query":${JSON.stringify(RECORD_ACTIVITY)},"variables":{"e":[
      {"eventId":"${eventId}","userId":"u\\ud800","type":"PURCHASE","productId":"p"},
      {"eventId":"x\\udc00-${eventId}","userId":"u","type":"BROWSE","productId":"p"}]}}`;
    const response = await post(body);
    expect(response.status).toBe(200);
    const report = (await response.json()).data.recordActivity;
    expect(report).toMatchObject({
      accepted: 0,
      errors: [
        { index: 0, code: 'UNPAIRED_SURROGATE', message: expect.stringContaining('userId "u\\ud800" has U+D800') },
        { index: 1, code: 'UNPAIRED_SURROGATE', message: expect.stringContaining('has U+DC00 at offset 1') },
      ],
    });
    const letters = await deadLetters('activity');
    const letter = letters.find((l) => l.eventId === eventId);
    expect(JSON.parse(letter?.payload as string)).toMatchObject({ eventId, userId: 'u\\ud800' });
    expect(letters.some((l) => l.eventId === `x\\udc00-${eventId}`)).toBe(true);
  });

  it('over WebSocket, a mutation with NUL in an event gets the same per-event rejection', async () => {
    const sub = subscribe(server.wsUrl, RECORD_ACTIVITY, { e: [browse({ productId: 'ws\u0000' }), browse()] });
    const result = await sub.next();
    expect(result.errors).toBeUndefined();
    expect(result.data?.recordActivity).toMatchObject({
      accepted: 1,
      errors: [{ index: 0, code: 'CONTROL_CHARACTER', message: expect.stringContaining('productId "ws\\u0000"') }],
    });
    await sub.completed;
    await sub.dispose();
  });
});

describe('NUL in the arguments of a query or subscription', () => {
  it.each([
    ['userActivity', 'query ($v: ID) { userActivity(userId: $v) { edges { cursor } } }', 'a\u0000'],
    ['userActivity', 'query ($v: ID) { userActivity(productId: $v) { edges { cursor } } }', 'a\u0000'],
    ['stockLevels', 'query ($v: [ID!]) { stockLevels(productIds: $v) { productId } }', ['a\u0000']],
    ['stockWarnings', 'query ($v: [ID!]) { stockWarnings(productIds: $v) { edges { cursor } } }', ['a\u0000']],
    ['recommendations', 'query ($v: ID!) { recommendations(userId: $v) { userId } }', 'a\u0000'],
  ])('%s refuses it with BAD_USER_INPUT, its path naming the field', async (field, query, value) => {
    const result = await gql(server.url, query, { v: value });
    expect(result.errors).toEqual([
      expect.objectContaining({
        path: [field],
        message: 'an argument holds the character U+0000 (NUL), which no stored text contains; remove it',
        extensions: { code: 'BAD_USER_INPUT' },
      }),
    ]);
  });

  it('setStockThreshold refuses a productId with a control character, as an event would be', async () => {
    const SET = 'mutation ($p: ID!) { setStockThreshold(productId: $p, threshold: 3) { productId } }';
    for (const [productId, name] of [
      ['p\u0000', 'U+0000'],
      ['p\n', 'U+000A'],
    ]) {
      const result = await gql(server.url, SET, { p: productId });
      expect(result.errors).toEqual([
        expect.objectContaining({
          message: `no field may contain a control character (U+0000 to U+001F): productId ${JSON.stringify(productId)} has ${name} at offset 1`,
          extensions: { code: 'BAD_USER_INPUT' },
        }),
      ]);
    }
  });

  it.each([
    ['recommendations', 'subscription ($v: ID!) { recommendations(userId: $v) { userId } }', 'a\u0000'],
    [
      'userActivity',
      `subscription ($v: ID) { userActivity(userId: $v, after: "${FROM_START}") { cursor } }`,
      'a\u0000',
    ],
    [
      'stockWarnings',
      `subscription ($v: [ID!]) { stockWarnings(productIds: $v, after: "${FROM_START}") { cursor } }`,
      ['a\u0000'],
    ],
  ])('over WebSocket, a %s subscription refuses it with BAD_USER_INPUT', async (field, query, value) => {
    const sub = subscribe(server.wsUrl, query, { v: value });
    const outcome = await sub.next().then(
      (result) => JSON.stringify(result),
      (error: Error) => error.message,
    );
    expect(outcome).toContain('BAD_USER_INPUT');
    expect(outcome).toContain('an argument holds the character U+0000 (NUL)');
    expectNoLeak(outcome, field);
    await sub.dispose();
  });
});

describe('the shape of an HTTP request', () => {
  it('an empty JSON array gets 400 with a clear message', async () => {
    const response = await post('[]');
    expect(response.status).toBe(400);
    expect((await response.json()).errors).toEqual([
      {
        message: `the request is an empty batch ([]): send one operation as a JSON object, or an array of 1 to ${MAX_BATCH_OPERATIONS} operations`,
        extensions: { code: 'BAD_REQUEST' },
      },
    ]);
  });

  it('a batch of more than MAX_BATCH_OPERATIONS operations gets 400 naming the limit; one at the limit is served', async () => {
    const operations = (count: number) =>
      JSON.stringify(Array.from({ length: count }, () => ({ query: '{ __typename }' })));
    const atLimit = await post(operations(MAX_BATCH_OPERATIONS));
    expect(atLimit.status).toBe(200);
    expect(await atLimit.json()).toHaveLength(MAX_BATCH_OPERATIONS);

    const over = await post(operations(MAX_BATCH_OPERATIONS + 1));
    expect(over.status).toBe(400);
    expect((await over.json()).errors).toEqual([
      {
        message: `Batching is limited to ${MAX_BATCH_OPERATIONS} operations per request (MAX_BATCH_OPERATIONS); this one has ${MAX_BATCH_OPERATIONS + 1}: split it`,
        extensions: { code: 'BAD_REQUEST' },
      },
    ]);
  });
});

describe('hostile bodies', () => {
  const query = (text: string, extra: Record<string, unknown> = {}) => JSON.stringify({ query: text, ...extra });
  const HOSTILE: Array<[string, () => Promise<Response>]> = [
    ['invalid JSON', () => post('{"query": "{ __typename }"')],
    ['JSON that is not an object', () => post('"{ __typename }"')],
    ['null', () => post('null')],
    ['a batch of non-objects', () => post('[1, null, "x", []]')],
    ['wrong content type', () => post(query('{ __typename }'), 'text/plain')],
    ['no content type', () => fetch(server.url, { method: 'POST', body: new Blob([query('{ __typename }')]) })],
    ['deeply nested JSON arrays', () => post(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)],
    [
      'deeply nested JSON in variables',
      () => post(`{"query":"{ __typename }","variables":{"a":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}}`),
    ],
    ['a deeply nested query', () => post(query(`{ ${'userActivity { edges { node { '.repeat(500)}`))],
    [
      'a huge string within the body limit',
      () => post(query(RECORD_ACTIVITY, { variables: { e: [browse({ eventId: 'x'.repeat(1_500_000) })] } })),
    ],
    ['a huge query within the body limit', () => post(query(`{ ${'__typename '.repeat(150_000)}}`))],
    [
      'NUL in variables',
      () =>
        post(query('query ($u: ID) { userActivity(userId: $u) { edges { cursor } } }', { variables: { u: '\u0000' } })),
    ],
    ['NUL in operationName', () => post(query('query Q { __typename }', { operationName: 'Q\u0000' }))],
    ['NUL in a query string', () => post(query('{ __type\u0000name }'))],
    [
      'NUL in a string literal of a query',
      () => post(query('{ userActivity(userId: "a\u0000") { edges { cursor } } }')),
    ],
    [
      'NUL in a GET query',
      () =>
        fetch(`${server.url}?query=${encodeURIComponent('{ recommendations(userId: "\u0000") { userId } }')}`, {
          headers: { accept: 'application/graphql-response+json' },
        }),
    ],
    ['a query that is not a string', () => post('{"query": {"a": 1}}')],
    ['variables that are not an object', () => post('{"query": "{ __typename }", "variables": [1]}')],
  ];

  it.each(HOSTILE)('%s gets neither a 5xx nor an internal error, stack or SQL', async (what, send) => {
    const response = await send();
    const text = await response.text();
    expect(response.status, `${what}: ${text.slice(0, 300)}`).toBeLessThan(500);
    expectNoLeak(text, what);
  });
});
