// The query cost limit agrees with the API: every operation the README shows runs as written,
// every documented page size fits, and a literal costs what the same variable costs. Default limits.
import { readFileSync } from 'node:fs';
import {
  type GraphQLObjectType,
  getNamedType,
  isLeafType,
  isNonNullType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  parse,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { MAX_PAGE_SIZE } from '../../src/core/paging.js';
import { operationCost } from '../../src/http/query-cost.js';
import { schema } from '../../src/schema/index.js';
import { closeAllClients, gql, subscribe } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const MAX_QUERY_COST = loadConfig({}).limits.maxQueryCost;

/** Every operation in the README's ```graphql blocks, as its source text. */
function readmeOperations(): Array<{ kind: OperationDefinitionNode['operation']; source: string }> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  return [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].flatMap(([, block = '']) =>
    parse(block)
      .definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)
      .map((d) => ({ kind: d.operation, source: block.slice(d.loc?.start, d.loc?.end) })),
  );
}

let server: TestServer;
let n = 0;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await closeAllClients();
  await disposeAll();
});

const noErrors = (result: { errors?: unknown }, what: string) =>
  expect(result.errors, `${what}\n${JSON.stringify(result.errors)}`).toBeUndefined();

// A subscription without a cursor starts "from now": events that it follows are sent until one
// arrives (a refusal arrives at once, as an error).
const send = async (query: string, variables: Record<string, unknown>) =>
  noErrors(await gql(server.url, query, variables), query);
const MARKERS: Record<string, () => Promise<unknown>> = {
  userActivity: () =>
    send(
      'mutation ($id: ID!) { recordActivity(events: [{ eventId: $id, userId: "1", type: BROWSE, productId: "101" }]) { accepted } }',
      { id: `marker-a-${++n}` },
    ),
  // 0 and 100 in turn: OUT_OF_STOCK, RESTOCKED, …
  stockWarnings: () =>
    send(
      'mutation ($id: ID!, $q: Int!) { recordInventory(events: [{ eventId: $id, productId: "102", quantity: $q }]) { accepted } }',
      { id: `marker-i-${++n}`, q: n % 2 === 0 ? 0 : 100 },
    ),
  salesUpdates: () =>
    send(
      'mutation ($id: ID!) { recordActivity(events: [{ eventId: $id, userId: "m", type: PURCHASE, productId: "101", unitPrice: "1.00", currency: "USD" }]) { accepted } }',
      { id: `marker-s-${++n}` },
    ),
  // 30 orders in one hour of a day 30 days after the previous marker's: from the second call on,
  // a spike against the quiet weeks before it (a browse two hours later closes the hour).
  salesAlerts: () => {
    const day = new Date(Date.UTC(2020, 0, 1) + 30 * 86_400_000 * ++n).toISOString().slice(0, 10);
    const orders = Array.from({ length: 30 }, (_, i) => ({
      eventId: `marker-alert-${n}-${i}`,
      userId: 'm',
      type: 'PURCHASE',
      productId: '103',
      unitPrice: '1.00',
      currency: 'USD',
      orderId: `marker-order-${n}-${i}`,
      occurredAt: `${day}T12:${String(i).padStart(2, '0')}:00Z`,
    }));
    const closing = {
      eventId: `marker-alert-${n}-close`,
      userId: 'm',
      type: 'BROWSE',
      productId: '103',
      occurredAt: `${day}T14:00:00Z`,
    };
    return send('mutation ($e: [ActivityEventInput!]!) { recordActivity(events: $e) { accepted } }', {
      e: [...orders, closing],
    });
  },
  recommendations: async () => undefined, // sends the current list at once
  stockLevels: async () => undefined, // sends the current levels at once
};

describe('README operations', () => {
  it('every operation in the README runs as written, with no refusal', async () => {
    const operations = readmeOperations();
    expect(operations.length).toBeGreaterThanOrEqual(14);
    for (const { kind, source } of operations) {
      if (kind !== 'subscription') {
        noErrors(await gql(server.url, source), source);
        continue;
      }
      const field = /subscription\s*\{\s*(\w+)/.exec(source)?.[1] ?? '';
      const sendMarker = MARKERS[field];
      expect(sendMarker, `no marker for the README's subscription ${field}`).toBeDefined();
      const sub = subscribe(server.wsUrl, source);
      for (let attempt = 0; ; attempt++) {
        if (attempt === 100) throw new Error(`${source}\nnever delivered anything`);
        await sendMarker?.();
        const result = await sub.next(250).catch(() => null);
        if (!result) continue;
        noErrors(result, source);
        break;
      }
      await sub.dispose();
    }
  });

  it('the README queries run at the largest page size, as a literal and as a variable', async () => {
    const paged = readmeOperations().filter((op) => op.kind === 'query' && /first: \d+/.test(op.source));
    expect(paged.length).toBeGreaterThanOrEqual(3);
    for (const { source } of paged) {
      const literal = source.replace(/first: \d+/, `first: ${MAX_PAGE_SIZE}`);
      noErrors(await gql(server.url, literal), literal);
      const variable = source.replace(/^query\s*\{/, 'query ($first: Int) {').replace(/first: \d+/, 'first: $first');
      noErrors(await gql(server.url, variable, { first: MAX_PAGE_SIZE }), variable);
    }
  });
});

describe('query cost', () => {
  const PAGE = `{ edges { cursor node { eventId userId type productId quantity unitPrice currency orderId occurredAt receivedAt } } }`;

  it('a literal page size costs what the same variable costs, and over the limit is QUERY_TOO_COSTLY', async () => {
    // Two whole pages with every field cost more than the default limit.
    const literal = await gql(
      server.url,
      `{ a: userActivity(first: 500) ${PAGE} b: userActivity(first: 500) ${PAGE} }`,
    );
    const variable = await gql(
      server.url,
      `query ($n: Int) { a: userActivity(first: $n) ${PAGE} b: userActivity(first: $n) ${PAGE} }`,
      { n: 500 },
    );
    for (const over of [literal, variable]) {
      expect(over.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COSTLY', maxCost: MAX_QUERY_COST });
      expect(over.errors?.[0]?.message).toMatch(/MAX_QUERY_COST/);
      expect(over.errors?.[0]?.message).not.toMatch(/Syntax Error/);
      expect(over.data ?? null).toBeNull();
    }
    expect(literal.errors?.[0]?.extensions?.cost).toBe(variable.errors?.[0]?.extensions?.cost);
    // One such page fits, left out (the largest page) or asked for.
    noErrors(await gql(server.url, `{ userActivity ${PAGE} }`), 'no first');
    noErrors(await gql(server.url, `query ($n: Int) { userActivity(first: $n) ${PAGE} }`, { n: 500 }), 'first: 500');
  });

  it('a subscription over the limit is refused over WebSocket with QUERY_TOO_COSTLY', async () => {
    const low = await startTestServer({ databaseUrl: server.databaseUrl, env: { MAX_QUERY_COST: '100' } });
    const sub = subscribe(
      low.wsUrl,
      'subscription { recommendations(userId: "1", limit: 50) { items { productId score reason } } }',
    );
    const result = await sub.next();
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COSTLY', maxCost: 100 });
    await sub.dispose();
  });

  it('a whole page of any paged field, every scalar selected, fits under the default limit', () => {
    const scalars = (type: GraphQLObjectType) =>
      Object.values(type.getFields())
        .filter((f) => isLeafType(getNamedType(f.type)) && f.args.every((a) => !isNonNullType(a.type)))
        .map((f) => f.name)
        .join(' ');
    const roots = [
      ['query', schema.getQueryType()],
      ['subscription', schema.getSubscriptionType()],
    ] as const;
    let checked = 0;
    for (const [operation, root] of roots) {
      for (const field of Object.values(root?.getFields() ?? {})) {
        const size = field.args.find((a) => a.name === 'first' || a.name === 'limit');
        const type = getNamedType(field.type);
        if (!size || !isObjectType(type)) continue;
        const objects = Object.values(type.getFields()).filter((f) => isObjectType(getNamedType(f.type)));
        const selection = objects
          .map((f) => {
            const inner = getNamedType(f.type) as GraphQLObjectType;
            const node = inner.getFields().node;
            const leaves = node ? `node { ${scalars(getNamedType(node.type) as GraphQLObjectType)} }` : '';
            return `${f.name} { ${scalars(inner)} ${leaves} }`;
          })
          .join(' ');
        const required = field.args.filter((a) => isNonNullType(a.type)).map((a) => `, ${a.name}: "1"`);
        const document = parse(
          `${operation} { ${field.name}(${size.name}: ${MAX_PAGE_SIZE}${required.join('')}) { ${scalars(type)} ${selection} } }`,
        );
        const cost = operationCost({ schema, document });
        expect(cost, field.name).toBeLessThanOrEqual(MAX_QUERY_COST);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(5);
  });
});
