// GraphiQL works without internet: its page names no other host, and every file it refers to
// (scripts, styles, editor workers, icon) comes from this server. The browser half (a subscription
// running with the network off) needs Chromium; this checks what fetch can.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let page: string;

beforeAll(async () => {
  server = await startTestServer();
  const response = await fetch(server.url, { headers: { accept: 'text/html' } });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  page = await response.text();
});
afterAll(disposeAll);

const EXPECTED_TYPES: Record<string, RegExp> = {
  '.js': /^text\/javascript/,
  '.css': /^text\/css/,
  '.ico': /^image\/x-icon/,
};

describe('GraphiQL', () => {
  it('the page refers to no external URL', () => {
    expect(page).toContain('YogaGraphiQL.renderYogaGraphiQL');
    expect(page.match(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/gi) ?? []).toEqual([]);
  });

  it('every file the page refers to is served here, with its content type', async () => {
    const referenced = new Set(
      [...page.matchAll(/(?:src|href)="([^"]+)"|"(\/graphiql\/[^"]+)"/g)].map((m) => m[1] ?? m[2]),
    );
    // the script, the stylesheet, the icon and the three editor workers
    expect(referenced.size).toBe(6);
    for (const path of referenced) {
      expect(path, path).toMatch(/^\/graphiql\//);
      const response = await fetch(new URL(path as string, server.httpBase));
      expect(response.status, path).toBe(200);
      const type = EXPECTED_TYPES[(path as string).slice((path as string).lastIndexOf('.'))];
      expect(response.headers.get('content-type'), path).toMatch(type as RegExp);
      expect((await response.arrayBuffer()).byteLength, path).toBeGreaterThan(1000);
    }
  });

  it('runs subscriptions over the WebSocket endpoint the server listens on', () => {
    const options = JSON.parse(/renderYogaGraphiQL\([^,]+, (\{.*\})\);<\/script>/.exec(page)?.[1] ?? '{}');
    expect(options).toMatchObject({ endpoint: '/graphql', subscriptionsProtocol: 'WS' });
    expect(new URL(server.wsUrl).pathname).toBe(options.endpoint);
  });

  it('an unknown asset is a 404', async () => {
    const response = await fetch(new URL('/graphiql/nothing.js', server.httpBase));
    expect(response.status).toBe(404);
  });
});
