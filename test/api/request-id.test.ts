// Every log line of a request carries its id, and the response returns it (X-Request-Id): the
// proxy's id when TRUST_REQUEST_ID is on and it looks like an id, else a new one.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger, runWithRequestId } from '../../src/log.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

type Line = { requestId?: string; part?: string; msg?: string };

let lines: Line[] = [];
let trusting: TestServer;
let untrusting: TestServer;

function capturingLogger() {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const text of String(chunk).split('\n')) if (text) lines.push(JSON.parse(text));
      done();
    },
  });
  return createLogger(loadConfig({ LOG_LEVEL: 'debug' }), sink);
}

beforeAll(async () => {
  trusting = await startTestServer({ env: { TRUST_REQUEST_ID: 'true' }, log: capturingLogger() });
  untrusting = await startTestServer({ databaseUrl: trusting.databaseUrl });
});
afterAll(disposeAll);

const post = (server: TestServer, query: string, headers: Record<string, string> = {}) =>
  fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query }),
  });

describe('request ids', () => {
  it("every log line of a request carries the trusted proxy's X-Request-Id, and the response returns it", async () => {
    lines = [];
    const response = await post(trusting, '{ __typename }', { 'x-request-id': 'proxy-id-1' });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('proxy-id-1');
    // A refused operation's lines too.
    const failing = await post(trusting, '{ nope }', { 'x-request-id': 'proxy-id-2' });
    expect(failing.headers.get('x-request-id')).toBe('proxy-id-2');
    const graphql = lines.filter((line) => line.part === 'graphql');
    expect(graphql.length).toBeGreaterThan(0);
    expect(graphql.filter((line) => !['proxy-id-1', 'proxy-id-2'].includes(line.requestId ?? ''))).toEqual([]);
  });

  it('generates an id for a request without one, and for one that does not look like an id', async () => {
    const none = await post(trusting, '{ __typename }');
    expect(none.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const odd = await post(trusting, '{ __typename }', { 'x-request-id': 'two words\tand a tab' });
    expect(odd.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('ignores a client X-Request-Id unless TRUST_REQUEST_ID is on, on every route', async () => {
    for (const path of ['/graphql', '/health', '/metrics']) {
      const response = await fetch(new URL(path, untrusting.httpBase), { headers: { 'x-request-id': 'spoofed' } });
      const id = response.headers.get('x-request-id');
      expect(id, path).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('LOG_FORMAT=pretty prints one readable line per entry, with the request id', () => {
    let out = '';
    const sink = new Writable({
      write(chunk, _encoding, done) {
        out += String(chunk);
        done();
      },
    });
    const log = createLogger(loadConfig({ LOG_FORMAT: 'pretty' }), sink);
    runWithRequestId('r-42', () => log.child({ part: 'graphql' }).info({ operation: 'q' }, 'operation done'));
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO.*operation done.*requestId.*"r-42"/);
    expect(out.trim().split('\n')).toHaveLength(1);
    expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow(/LOG_FORMAT must be json or pretty/);
  });
});
