// The typed example client (examples/) against the real server: it records, pages and follows two
// subscriptions as its README says; its gql.tada types are generated from the current schema.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLRequestError } from '../../examples/graphql.js';
import { runExample } from '../../examples/shop-client.js';
import { createApiKey } from '../../src/auth/api-keys.js';
import { PrismaClient } from '../../src/db/generated/prisma/client.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let adminKey: string;
let integrationKey: string;

beforeAll(async () => {
  server = await startTestServer();
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: server.databaseUrl }) });
  try {
    adminKey = (await createApiKey(prisma, 'example', 'admin')).key;
    integrationKey = (await createApiKey(prisma, 'shop-backend', 'integration')).key;
  } finally {
    await prisma.$disconnect();
  }
});
afterAll(disposeAll);

describe('examples/shop-client.ts', () => {
  it('records events, pages the history and receives both subscriptions live, with an admin key', async () => {
    const printed: string[] = [];
    const result = await runExample({
      url: server.url,
      credential: adminKey,
      runId: 'run1',
      print: (line) => printed.push(line),
    });

    expect(result.recorded.activity).toEqual({
      accepted: 4,
      duplicates: 0,
      errors: [expect.objectContaining({ index: 3, eventId: 'run1-no-price', code: 'MISSING_PRICE' })],
    });
    expect(result.recorded.inventory).toEqual({ accepted: 2, duplicates: 0, errors: [] });

    // Four events, two a page, oldest first.
    expect(result.history.pages).toBe(2);
    expect(result.history.events.map((e) => e.eventId)).toEqual([
      'run1-browse-mug',
      'run1-cart-mug',
      'run1-buy-mug',
      'run1-browse-lamp',
    ]);

    // Only what came after the history's end cursor, each once.
    expect(result.live.activity.map((e) => e.eventId)).toEqual(['run1-browse-lamp-2', 'run1-buy-lamp']);
    expect(result.live.warnings.map((w) => [w.productId, w.kind, w.quantity]).sort()).toEqual([
      ['lamp-run1', 'LOW_STOCK', 3],
      ['mug-run1', 'RESTOCKED', 25],
    ]);

    expect(printed).toContain('recordActivity: 4 accepted, 0 duplicates');
    expect(printed).toContain('  rejected #3 run1-no-price: MISSING_PRICE');
    expect(printed).toContain('warning so far: mug-run1 OUT_OF_STOCK (0)');
    expect(printed).toContain('live warning: lamp-run1 LOW_STOCK (3 left)');
    expect(printed).toContain('live activity: PURCHASE lamp-run1 ×2');
  });

  it('running it again records new events, not duplicates', async () => {
    const result = await runExample({ url: server.url, credential: adminKey, print: () => {} });
    expect(result.recorded.activity.accepted).toBe(4);
    expect(result.history.events).toHaveLength(4);
    expect(result.live.activity).toHaveLength(2);
  });

  it('fails with UNAUTHENTICATED for an unknown key', async () => {
    const failure = runExample({ url: server.url, credential: 'sk_not-a-real-key', print: () => {} });
    await expect(failure).rejects.toBeInstanceOf(GraphQLRequestError);
    await expect(failure).rejects.toMatchObject({
      status: 401,
      errors: [expect.objectContaining({ extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }) })],
    });
  });

  it('fails with FORBIDDEN when the key may record but not read (integration)', async () => {
    const printed: string[] = [];
    const failure = runExample({ url: server.url, credential: integrationKey, print: (line) => printed.push(line) });
    await expect(failure).rejects.toMatchObject({
      errors: [expect.objectContaining({ extensions: expect.objectContaining({ code: 'FORBIDDEN' }) })],
    });
    // The mutations went through; the history query was refused.
    expect(printed[0]).toBe('recordActivity: 4 accepted, 0 duplicates');
  });
});

describe('examples/graphql-env.d.ts', () => {
  it('is what gql.tada generates from schema.graphql (fix: npm run examples:types)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gql-tada-'));
    try {
      const output = join(dir, 'graphql-env.d.ts');
      await promisify(execFile)('node_modules/.bin/gql.tada', [
        'generate',
        'output',
        '--tsconfig',
        'examples/tsconfig.json',
        '--output',
        output,
      ]);
      const checkedIn = await readFile('examples/graphql-env.d.ts', 'utf8');
      expect(
        (await readFile(output, 'utf8')) === checkedIn,
        'examples/graphql-env.d.ts is stale: run `npm run examples:types` and commit it',
      ).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
