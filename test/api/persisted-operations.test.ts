// Persisted operations (PERSISTED_OPERATIONS_FILE, issue 18) through the real server: a listed
// hash runs over HTTP (POST and GET) and graphql-ws; an unknown hash and a document are refused
// with their codes, except a document from an admin; with the setting unset, documents run.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionResult } from 'graphql';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  hashDocument,
  loadPersistedOperations,
  PERSISTED_QUERY_NOT_FOUND,
  PERSISTED_QUERY_REQUIRED,
} from '../../src/http/persisted-operations.js';
import { schema } from '../../src/schema/index.js';
import { closeAllClients, gql, wsClient } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
const RECS = 'query Recs($userId: ID!) {\n  recommendations(userId: $userId) { userId }\n}\n';
const LIVE =
  'subscription Live($userId: ID, $after: String) {\n  userActivity(userId: $userId, after: $after) { eventId }\n}\n';
const UNKNOWN = hashDocument('query Other { processors { processor } }');

let dir: string;
let file: string;
let server: TestServer;
let shopper: string;
let admin: string;

const token = (sub: string, role?: string) =>
  new SignJWT(role ? { role } : {})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });
const persisted = (document: string) => ({ persistedQuery: { version: 1, sha256Hash: hashDocument(document) } });
const byHash = (hash: string) => ({ persistedQuery: { version: 1, sha256Hash: hash } });

async function post(body: Record<string, unknown>, credential: string) {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer(credential) },
    body: JSON.stringify(body),
  });
  return { status: response.status, ...((await response.json()) as ExecutionResult) };
}

const codes = (result: ExecutionResult) => result.errors?.map((e) => e.extensions?.code);

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shopstream-persisted-'));
  file = path.join(dir, 'operations.json');
  await fs.writeFile(file, JSON.stringify({ [hashDocument(RECS)]: RECS, [hashDocument(LIVE)]: LIVE }));
  server = await startTestServer({ env: { JWT_SECRET: SECRET, PERSISTED_OPERATIONS_FILE: file } });
  shopper = await token('u1');
  admin = await token('a1', 'admin');
});
afterAll(async () => {
  await closeAllClients();
  await disposeAll();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('persisted operations over HTTP', () => {
  it('runs a listed operation sent by its hash, with POST and with GET', async () => {
    const posted = await post({ extensions: persisted(RECS), variables: { userId: 'u1' } }, shopper);
    expect(posted.errors).toBeUndefined();
    expect(posted.data).toEqual({ recommendations: { userId: 'u1' } });

    const url = new URL(server.url);
    url.searchParams.set('extensions', JSON.stringify(persisted(RECS)));
    url.searchParams.set('variables', JSON.stringify({ userId: 'u1' }));
    const got = await fetch(url, { headers: bearer(shopper) });
    expect(await got.json()).toEqual({ data: { recommendations: { userId: 'u1' } } });
  });

  it('refuses a hash that is not in the list with PERSISTED_QUERY_NOT_FOUND', async () => {
    const result = await post({ extensions: byHash(UNKNOWN), variables: { userId: 'u1' } }, shopper);
    expect(result.status).toBe(400);
    expect(codes(result)).toEqual([PERSISTED_QUERY_NOT_FOUND]);
    expect(result.errors?.[0]?.message).toContain(UNKNOWN);
    expect(result.data).toBeUndefined();
  });

  it('refuses a document, even a listed one, and a request with neither, with PERSISTED_QUERY_REQUIRED', async () => {
    for (const body of [{ query: RECS, variables: { userId: 'u1' } }, { variables: { userId: 'u1' } }]) {
      const result = await post(body, shopper);
      expect(result.status).toBe(400);
      expect(codes(result)).toEqual([PERSISTED_QUERY_REQUIRED]);
      expect(result.errors?.[0]?.message).toMatch(/persisted operations only.*sha256Hash.*Only an admin/);
    }
    // A subscription over SSE goes through the same plugin.
    const sse = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...bearer(shopper) },
      body: JSON.stringify({ query: LIVE, variables: { userId: 'u1' } }),
    });
    expect(await sse.text()).toContain(PERSISTED_QUERY_REQUIRED);
    const anonymous = await gql(server.url, '{ processors { processor } }');
    expect(codes(anonymous as ExecutionResult)).toEqual([PERSISTED_QUERY_REQUIRED]);
  });

  it('runs any document an admin sends (GraphiQL, operators), and refuses a bad credential', async () => {
    const result = await gql(server.url, '{ processors { processor } }', undefined, bearer(admin));
    expect(result.errors).toBeUndefined();
    expect(result.data?.processors.length).toBeGreaterThan(0);
    const forged = await gql(server.url, '{ processors { processor } }', undefined, bearer('not-a-credential'));
    expect(forged.errors?.[0]?.extensions?.code).toBe(PERSISTED_QUERY_REQUIRED);
  });
});

describe('persisted operations over graphql-ws', () => {
  /** Subscribes with a raw payload; resolves with the first result or error the server sends. */
  function first(
    credential: string,
    payload: { query: string; extensions?: Record<string, unknown>; variables?: Record<string, unknown> },
  ) {
    const client = wsClient(server.wsUrl, bearer(credential));
    return new Promise<{ result?: ExecutionResult; error?: unknown; dispose: () => void }>((resolve) => {
      const dispose = client.subscribe(payload, {
        next: (result) => resolve({ result: result as ExecutionResult, dispose }),
        error: (error) => resolve({ error, dispose }),
        complete: () => {},
      });
    });
  }
  const record = (eventId: string) =>
    gql(
      server.url,
      `mutation { recordActivity(events: [{ eventId: "${eventId}", userId: "u1", type: BROWSE, productId: "1" }]) { accepted } }`,
      undefined,
      bearer(admin),
    );

  it('runs a listed subscription sent by its hash (query "")', async () => {
    expect((await record('ws-1')).data?.recordActivity.accepted).toBe(1);
    const page = await gql(
      server.url,
      '{ userActivity(userId: "u1") { pageInfo { endCursor } } }',
      undefined,
      bearer(admin),
    );
    const after = page.data?.userActivity.pageInfo.endCursor;
    const live = first(shopper, { query: '', extensions: persisted(LIVE), variables: { userId: 'u1', after } });
    await record('ws-2');
    const { result, error, dispose } = await live;
    dispose();
    expect(error).toBeUndefined();
    expect(result?.data).toEqual({ userActivity: { eventId: 'ws-2' } });
  });

  it('refuses a document and an unknown hash with the same codes as HTTP', async () => {
    const raw = await first(shopper, { query: LIVE, variables: { userId: 'u1' } });
    expect((raw.error as ExecutionResult['errors'])?.map((e) => e.extensions?.code)).toEqual([
      PERSISTED_QUERY_REQUIRED,
    ]);
    const unknown = await first(shopper, { query: '', extensions: byHash(UNKNOWN), variables: { userId: 'u1' } });
    expect((unknown.error as ExecutionResult['errors'])?.map((e) => e.extensions?.code)).toEqual([
      PERSISTED_QUERY_NOT_FOUND,
    ]);
  });
});

describe('with PERSISTED_OPERATIONS_FILE unset (the default)', () => {
  it('runs documents as usual', async () => {
    const open = await startTestServer({ env: { JWT_SECRET: SECRET }, databaseUrl: server.databaseUrl });
    const result = await gql(open.url, RECS, { userId: 'u1' }, bearer(shopper));
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ recommendations: { userId: 'u1' } });
  });
});

describe('the allowlist file', () => {
  const write = async (name: string, content: unknown) => {
    const target = path.join(dir, name);
    await fs.writeFile(target, typeof content === 'string' ? content : JSON.stringify(content));
    return target;
  };

  it('stops start-up with the entry at fault: missing, not JSON, wrong hash, invalid document, empty', async () => {
    const bad = 'query { nothingHere }';
    const cases: Array<[string, RegExp]> = [
      [path.join(dir, 'missing.json'), /cannot be read \(ENOENT\)/],
      [await write('text.json', 'not json'), /is not JSON/],
      [await write('wrong-hash.json', { [UNKNOWN]: RECS }), /is not the SHA-256 of its document/],
      [await write('invalid.json', { [hashDocument(bad)]: bad }), /does not run on this schema: .*nothingHere/],
      [await write('empty.json', {}), /lists no operation/],
    ];
    for (const [target, message] of cases) {
      await expect(loadPersistedOperations(target, schema)).rejects.toThrow(message);
    }
    await expect(
      startTestServer({ env: { PERSISTED_OPERATIONS_FILE: path.join(dir, 'missing.json') } }),
    ).rejects.toThrow(/PERSISTED_OPERATIONS_FILE .*missing\.json.*npm run operations:persist/);
  });

  it('npm run operations:persist builds it from a folder of .graphql files, and refuses an invalid one', async () => {
    const folder = path.join(dir, 'operations');
    await fs.mkdir(path.join(folder, 'shop'), { recursive: true });
    await fs.writeFile(path.join(folder, 'recs.graphql'), RECS);
    await fs.writeFile(path.join(folder, 'shop', 'live.graphql'), LIVE);
    await fs.writeFile(path.join(folder, 'notes.txt'), 'not an operation');
    const out = path.join(dir, 'built.json');
    const built = await run(['src/cli/persist-operations.ts', folder, '--out', out]);
    expect(built.code).toBe(0);
    expect(built.stdout).toContain(`${hashDocument(LIVE)}  shop/live.graphql`);
    expect(Object.fromEntries(await loadPersistedOperations(out, schema))).toEqual({
      [hashDocument(RECS)]: RECS,
      [hashDocument(LIVE)]: LIVE,
    });

    await fs.writeFile(path.join(folder, 'stale.graphql'), 'query { nothingHere }');
    const refused = await run(['src/cli/persist-operations.ts', folder, '--out', path.join(dir, 'not-written.json')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/stale\.graphql does not run on this schema/);
    await expect(fs.access(path.join(dir, 'not-written.json'))).rejects.toThrow(/ENOENT/);
  });
});

async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}
