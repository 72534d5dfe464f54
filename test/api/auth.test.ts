// Who may do what: every root field against every role, over HTTP and over WebSocket; expiry
// and revocation on open sockets; the open-mode loopback rule.
import { PrismaPg } from '@prisma/adapter-pg';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../../src/auth/api-keys.js';
import { loadConfig } from '../../src/config.js';
import { PrismaClient } from '../../src/db/generated/prisma/client.js';
import { schema } from '../../src/schema/index.js';
import { createServer } from '../../src/server.js';
import { closeAllClients, gql, subscribe, wsClient } from '../helpers/clients.js';
import { createTestDatabase } from '../helpers/database.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
let server: TestServer;
let prisma: PrismaClient;
const credentials: Record<string, string | null> = {};

const token = (sub: string, role?: string, expiresIn = '1h') =>
  new SignJWT(role ? { role } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(SECRET));

beforeAll(async () => {
  server = await startTestServer({ env: { JWT_SECRET: SECRET, CREDENTIAL_CHECK_MS: '100' } });
  prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: server.databaseUrl }) });
  credentials.anonymous = null;
  credentials.integration = (await createApiKey(prisma, 'shop-backend', 'integration')).key;
  credentials.adminKey = (await createApiKey(prisma, 'ops', 'admin')).key;
  credentials.shopper = await token('u1');
  credentials.staff = await token('s1', 'staff');
  credentials.admin = await token('a1', 'admin');
});
afterAll(async () => {
  await closeAllClients();
  await prisma.$disconnect();
  await disposeAll();
});

type Role = 'anonymous' | 'integration' | 'shopper' | 'staff' | 'admin' | 'adminKey';
const ROLES: Role[] = ['anonymous', 'integration', 'shopper', 'staff', 'admin', 'adminKey'];

/**
 * Every root field: an operation that answers at once (allowed ones with data or BAD_USER_INPUT,
 * never touching other tests' data), and the roles allowed to run it. The shopper is u1.
 */
const TABLE: Record<string, Array<{ doc: string; allowed: Role[] }>> = {
  'Mutation.recordActivity': [
    { doc: 'mutation { recordActivity(events: []) { accepted } }', allowed: ['integration', 'admin', 'adminKey'] },
  ],
  'Mutation.recordInventory': [
    { doc: 'mutation { recordInventory(events: []) { accepted } }', allowed: ['integration', 'admin', 'adminKey'] },
  ],
  'Mutation.recordProducts': [
    { doc: 'mutation { recordProducts(events: []) { accepted } }', allowed: ['integration', 'admin', 'adminKey'] },
  ],
  // Names are public on a storefront: any signed-in shopper may read the catalogue.
  'Query.products': [{ doc: '{ products { productId } }', allowed: ['shopper', 'staff', 'admin', 'adminKey'] }],
  'Mutation.recordRefunds': [
    { doc: 'mutation { recordRefunds(events: []) { accepted } }', allowed: ['integration', 'admin', 'adminKey'] },
  ],
  'Mutation.setStockThreshold': [
    {
      doc: 'mutation { setStockThreshold(productId: "p", threshold: -1) { threshold } }',
      allowed: ['admin', 'adminKey'],
    },
  ],
  'Query.userActivity': [
    { doc: '{ userActivity(userId: "u1") { edges { cursor } } }', allowed: ['shopper', 'staff', 'admin', 'adminKey'] },
    { doc: '{ userActivity(userId: "u2") { edges { cursor } } }', allowed: ['staff', 'admin', 'adminKey'] },
    { doc: '{ userActivity { edges { cursor } } }', allowed: ['staff', 'admin', 'adminKey'] },
  ],
  'Query.recommendations': [
    { doc: '{ recommendations(userId: "u1") { userId } }', allowed: ['shopper', 'staff', 'admin', 'adminKey'] },
    { doc: '{ recommendations(userId: "u2") { userId } }', allowed: ['staff', 'admin', 'adminKey'] },
  ],
  'Query.stockWarnings': [{ doc: '{ stockWarnings { edges { cursor } } }', allowed: ['staff', 'admin', 'adminKey'] }],
  'Query.salesAlerts': [{ doc: '{ salesAlerts { edges { cursor } } }', allowed: ['staff', 'admin', 'adminKey'] }],
  'Query.stockLevels': [{ doc: '{ stockLevels { productId } }', allowed: ['staff', 'admin', 'adminKey'] }],
  'Query.sales': [
    {
      doc: '{ sales(size: DAY, from: "2021-01-01T00:00:00Z", to: "2021-01-02T00:00:00Z") { revenue } }',
      allowed: ['staff', 'admin', 'adminKey'],
    },
  ],
  'Query.funnel': [{ doc: '{ funnel { browsers } }', allowed: ['staff', 'admin', 'adminKey'] }],
  'Query.topProducts': [{ doc: '{ topProducts(by: BROWSES) { productId } }', allowed: ['staff', 'admin', 'adminKey'] }],
  'Query.deadLetters': [{ doc: '{ deadLetters { code } }', allowed: ['admin', 'adminKey'] }],
  'Query.processors': [{ doc: '{ processors { processor events } }', allowed: ['staff', 'admin', 'adminKey'] }],
  'Query.stockMovements': [
    {
      doc: '{ stockMovements(productId: "p1") { pageInfo { hasNextPage } } }',
      allowed: ['staff', 'admin', 'adminKey'],
    },
  ],
  'Query.webhookEndpoints': [{ doc: '{ webhookEndpoints { id } }', allowed: ['admin', 'adminKey'] }],
  'Query.webhookDeliveries': [{ doc: '{ webhookDeliveries { id } }', allowed: ['admin', 'adminKey'] }],
  'Mutation.registerWebhookEndpoint': [
    {
      doc: 'mutation { registerWebhookEndpoint(url: "ftp://x", kinds: [STOCK_WARNING]) { secret } }',
      allowed: ['admin', 'adminKey'],
    },
  ],
  'Mutation.setWebhookEndpointEnabled': [
    { doc: 'mutation { setWebhookEndpointEnabled(id: "x", enabled: true) { id } }', allowed: ['admin', 'adminKey'] },
  ],
  'Mutation.deleteWebhookEndpoint': [
    { doc: 'mutation { deleteWebhookEndpoint(id: "x") }', allowed: ['admin', 'adminKey'] },
  ],
  'Mutation.replayWebhookDelivery': [
    { doc: 'mutation { replayWebhookDelivery(id: "x") { id } }', allowed: ['admin', 'adminKey'] },
  ],
  // Subscriptions get an invalid cursor or limit: once authorized they fail at once with BAD_USER_INPUT.
  'Subscription.userActivity': [
    {
      doc: 'subscription { userActivity(userId: "u1", after: "x") { cursor } }',
      allowed: ['shopper', 'staff', 'admin', 'adminKey'],
    },
    {
      doc: 'subscription { userActivity(userId: "u2", after: "x") { cursor } }',
      allowed: ['staff', 'admin', 'adminKey'],
    },
    { doc: 'subscription { userActivity(after: "x") { cursor } }', allowed: ['staff', 'admin', 'adminKey'] },
  ],
  'Subscription.stockWarnings': [
    { doc: 'subscription { stockWarnings(after: "x") { cursor } }', allowed: ['staff', 'admin', 'adminKey'] },
  ],
  // Levels are public on a storefront: any signed-in shopper may follow any product.
  'Subscription.stockLevels': [
    {
      doc: 'subscription { stockLevels(productIds: []) { productId } }',
      allowed: ['shopper', 'staff', 'admin', 'adminKey'],
    },
  ],
  'Subscription.salesAlerts': [
    { doc: 'subscription { salesAlerts(after: "x") { cursor } }', allowed: ['staff', 'admin', 'adminKey'] },
  ],
  'Subscription.salesUpdates': [
    { doc: 'subscription { salesUpdates(size: DAY, after: "x") { cursor } }', allowed: ['staff', 'admin', 'adminKey'] },
  ],
  'Subscription.recommendations': [
    {
      doc: 'subscription { recommendations(userId: "u1", limit: 0) { userId } }',
      allowed: ['shopper', 'staff', 'admin', 'adminKey'],
    },
    {
      doc: 'subscription { recommendations(userId: "u2", limit: 0) { userId } }',
      allowed: ['staff', 'admin', 'adminKey'],
    },
  ],
};

const rootFields = () =>
  (['Query', 'Mutation', 'Subscription'] as const).flatMap((type) =>
    Object.keys(
      schema.getType(type) && 'getFields' in (schema.getType(type) as object)
        ? (schema.getType(type) as any).getFields()
        : {},
    ).map((field) => `${type}.${field}`),
  );

const refusal = (errors: ReadonlyArray<{ extensions?: Record<string, any> }> | undefined) =>
  errors?.find((e) => e.extensions?.code === 'FORBIDDEN' || e.extensions?.code === 'UNAUTHENTICATED')?.extensions?.code;

describe('authorization table', () => {
  it('every root field declares its scopes and is in this table', () => {
    const fields = rootFields();
    expect(fields.filter((f) => !TABLE[f])).toEqual([]);
    const undeclared = fields.filter((f) => {
      const [type, name] = f.split('.') as [string, string];
      const field = (schema.getType(type) as any).getFields()[name];
      return field.extensions?.pothosOptions?.authScopes === undefined;
    });
    expect(undeclared).toEqual([]);
  });

  const cases = Object.entries(TABLE).flatMap(([field, rows]) =>
    rows.flatMap((row) => ROLES.map((role) => ({ field, role, ...row }))),
  );
  const present = new Set(rootFields());

  it.each(cases.filter((c) => present.has(c.field) && !c.field.startsWith('Subscription')))(
    'HTTP: $role → $doc',
    async ({ role, doc, allowed }) => {
      const credential = credentials[role];
      const result = await gql(server.url, doc, undefined, credential ? { authorization: `Bearer ${credential}` } : {});
      const code = refusal(result.errors);
      if (allowed.includes(role)) expect(code, JSON.stringify(result.errors)).toBeUndefined();
      else expect(code).toBe(role === 'anonymous' ? 'UNAUTHENTICATED' : 'FORBIDDEN');
    },
  );

  it.each(cases.filter((c) => present.has(c.field)))('WebSocket: $role → $doc', async ({ role, doc, allowed }) => {
    const credential = credentials[role];
    const client = wsClient(server.wsUrl, credential ? { authorization: `Bearer ${credential}` } : {});
    const sub = subscribe<any>(client, doc);
    const result = await sub.next();
    const code = refusal(result.errors);
    if (allowed.includes(role)) expect(code, JSON.stringify(result.errors)).toBeUndefined();
    else expect(code).toBe(role === 'anonymous' ? 'UNAUTHENTICATED' : 'FORBIDDEN');
    await sub.dispose();
    await client.dispose();
  });
});

describe('refusal messages', () => {
  const refusedWith = async (role: Role, doc: string) => {
    const result = await gql(server.url, doc, undefined, { authorization: `Bearer ${credentials[role]}` });
    expect(result.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    return result.errors?.[0]?.message;
  };

  it('say in plain English which role may do it and who is asking', async () => {
    expect(await refusedWith('shopper', 'mutation { recordActivity(events: []) { accepted } }')).toBe(
      'Only an integration key or an admin may use mutation recordActivity; you are signed in as the shopper "u1".',
    );
    expect(
      await refusedWith('staff', 'mutation { setStockThreshold(productId: "p", threshold: 1) { threshold } }'),
    ).toBe('Only an admin may use mutation setStockThreshold; you are signed in as staff ("s1").');
    expect(await refusedWith('integration', '{ stockLevels { productId } }')).toBe(
      'Only staff or an admin may use query stockLevels; you are signed in as an integration key.',
    );
    expect(await refusedWith('shopper', '{ userActivity(userId: "u2") { pageInfo { endCursor } } }')).toBe(
      'Only the shopper "u2" themself, staff or an admin may use query userActivity for that userId; you are signed in as the shopper "u1".',
    );
    expect(await refusedWith('shopper', '{ userActivity { pageInfo { endCursor } } }')).toBe(
      'Only staff or an admin may use query userActivity; you are signed in as the shopper "u1". A shopper may ask for their own userId ("u1").',
    );
  });
});

describe('credentials', () => {
  it('refuses a malformed, unknown or expired credential on HTTP with 401 UNAUTHENTICATED', async () => {
    const expired = await token('u1', undefined, '-1m');
    for (const authorization of [
      'Basic abc',
      'Bearer ss_unknownunkno_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      `Bearer ${expired}`,
      'Bearer not.a.jwt',
    ]) {
      const result = await gql(server.url, '{ __typename }', undefined, { authorization });
      expect(result.status).toBe(401);
      expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses a bad credential in connection_init with close code 4403', async () => {
    const client = wsClient(server.wsUrl, { authorization: 'Bearer ss_unknownunkno_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' });
    const sub = subscribe<any>(client, '{ __typename }');
    await expect(sub.next()).rejects.toThrow(/4403/);
  });

  it('a revoked key stops working at once and its open sockets are closed', async () => {
    const { key } = await createApiKey(prisma, 'to-revoke', 'admin');
    const client = wsClient(server.wsUrl, { authorization: `Bearer ${key}` });
    const closed = new Promise<number>((resolve) => client.on('closed', (event: any) => resolve(event.code)));
    const sub = subscribe<any>(client, 'subscription { userActivity { cursor } }');
    await new Promise<void>((resolve) => client.on('connected', () => resolve()));
    expect(await revokeApiKey(prisma, 'to-revoke')).toBe(true);
    const http = await gql(server.url, '{ __typename }', undefined, { authorization: `Bearer ${key}` });
    expect(http.status).toBe(401);
    expect(await closed).toBe(4403);
    await sub.dispose();
  });

  it('a socket whose token expires is closed with 4403', async () => {
    const shortLived = await token('u9', 'staff', '2s');
    const client = wsClient(server.wsUrl, { authorization: `Bearer ${shortLived}` });
    const closed = new Promise<number>((resolve) => client.on('closed', (event: any) => resolve(event.code)));
    const sub = subscribe<any>(client, 'subscription { userActivity { cursor } }');
    expect(await closed).toBe(4403);
    await sub.dispose();
  });
});

describe('open development mode', () => {
  it('with no key and no JWT setting, everything is allowed on loopback', async () => {
    const open = await startTestServer();
    const result = await gql(open.url, '{ deadLetters { code } }');
    expect(result.errors).toBeUndefined();
  });

  it('refuses to listen on a non-loopback address', async () => {
    const database = await createTestDatabase();
    try {
      const config = loadConfig({ DATABASE_URL: database.url, PORT: '0', HOST: '0.0.0.0', LOG_LEVEL: 'silent' });
      await expect(createServer(config).start()).rejects.toThrow(/open development mode/);
    } finally {
      await database.drop();
    }
  });
});

describe('npm run keys', () => {
  it('creates a key shown once, lists it without the key, and revokes it', async () => {
    const { execFile } = await import('node:child_process');
    const run = (...args: string[]) =>
      new Promise<{ code: number; out: string }>((resolve) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', 'src/cli/keys.ts', ...args],
          {
            cwd: new URL('../..', import.meta.url).pathname,
            env: { ...process.env, DATABASE_URL: server.databaseUrl },
          },
          (error, stdout, stderr) =>
            resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
        );
      });
    const created = await run('create', '--name', 'cli-key', '--role', 'integration');
    expect(created.code).toBe(0);
    const key = /^(ss_\S+)$/m.exec(created.out)?.[1] as string;
    expect(key).toBeDefined();
    const ingest = await gql(server.url, 'mutation { recordActivity(events: []) { accepted } }', undefined, {
      authorization: `Bearer ${key}`,
    });
    expect(ingest.data).toEqual({ recordActivity: { accepted: 0 } });

    const listed = await run('list');
    expect(listed.out).toMatch(/cli-key\tintegration\tcreated \S+\tactive/);
    expect(listed.out).not.toContain(key);
    expect((await run('create', '--name', 'cli-key', '--role', 'admin')).out).toMatch(/exists already/);
    expect((await run('create', '--name', 'x', '--role', 'root')).code).not.toBe(0);

    expect((await run('revoke', 'cli-key')).code).toBe(0);
    const refused = await gql(server.url, '{ __typename }', undefined, { authorization: `Bearer ${key}` });
    expect(refused.status).toBe(401);
  });
});

describe('JWT_JWKS_URL', () => {
  it('verifies tokens with keys published at the JWKS URL, with issuer and audience', async () => {
    const { createServer: createHttpServer } = await import('node:http');
    const { exportJWK, generateKeyPair } = await import('jose');
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const jwks = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = jwks.address() as import('node:net').AddressInfo;
      const withJwks = await startTestServer({
        env: {
          JWT_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
          JWT_ISSUER: 'https://id.example',
          JWT_AUDIENCE: 'shopstream',
        },
      });
      const sign = (issuer: string) =>
        new SignJWT({ role: 'staff' })
          .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
          .setSubject('s9')
          .setIssuer(issuer)
          .setAudience('shopstream')
          .setExpirationTime('5m')
          .sign(privateKey);
      const ok = await gql(withJwks.url, '{ funnel { browsers } }', undefined, {
        authorization: `Bearer ${await sign('https://id.example')}`,
      });
      expect(ok.errors).toBeUndefined();
      const wrongIssuer = await gql(withJwks.url, '{ funnel { browsers } }', undefined, {
        authorization: `Bearer ${await sign('https://evil.example')}`,
      });
      expect(wrongIssuer.status).toBe(401);
    } finally {
      jwks.closeAllConnections();
      await new Promise((resolve) => jwks.close(resolve));
    }
  });
});
