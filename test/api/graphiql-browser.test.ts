// GraphiQL in a real browser with the network off (issue 18): every request the page makes goes to
// this server, the schema explorer loads, and a subscription typed into the editor runs over
// WebSocket and shows the event it receives. graphiql.test.ts checks the page's files with fetch.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Browser, browserAvailable, launchBrowser, NO_CHROMIUM } from '../helpers/browser.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';
import { FROM_START, recordActivity } from '../helpers/streams.js';

const AVAILABLE = browserAvailable('graphiql-browser.test.ts');
let server: TestServer;
let browser: Browser;
/** Every request that left for another host: none may. */
const external: string[] = [];

beforeAll(async () => {
  if (!AVAILABLE) return;
  server = await startTestServer();
  browser = await launchBrowser({ offline: true });
  // The network is off: a request to any other host fails (and is recorded, to fail the test).
  await browser.context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') return route.continue();
    external.push(url.href);
    return route.abort('internetdisconnected');
  });
});
beforeEach(({ skip }) => skip(!AVAILABLE, NO_CHROMIUM));
afterAll(async () => {
  await browser?.close();
  await disposeAll();
});

describe('GraphiQL with the network off', () => {
  it('loads from this server alone and runs a subscription over WebSocket', async () => {
    await recordActivity(server.url, [{ eventId: 'offline-1', userId: 'u-1', type: 'BROWSE', productId: 'p-1' }]);
    const page = await browser.context.newPage();
    const failed: string[] = [];
    page.on('requestfailed', (request) => failed.push(request.url()));
    const query = `subscription { userActivity(after: "${FROM_START}") { eventId type productId } }`;
    await page.goto(`${server.url}?query=${encodeURIComponent(query)}`);

    // The editor holds the subscription; the schema was introspected (the explorer lists it).
    const editor = page.locator('.graphiql-query-editor');
    await expect.poll(() => editor.textContent(), { timeout: 30_000 }).toContain('userActivity');
    await page.locator('.graphiql-execute-button').click();

    // Replayed from the start over the WebSocket, then live: both events show in the result pane.
    const result = page.locator('.graphiql-response');
    await expect.poll(() => result.textContent(), { timeout: 30_000 }).toContain('offline-1');
    await recordActivity(server.url, [{ eventId: 'offline-2', userId: 'u-1', type: 'BROWSE', productId: 'p-2' }]);
    await expect.poll(() => result.textContent(), { timeout: 30_000 }).toContain('offline-2');

    await page.locator('[aria-label="Show Documentation Explorer"]').click();
    await expect
      .poll(() => page.locator('.graphiql-doc-explorer').textContent(), { timeout: 30_000 })
      .toContain('Query');

    expect(external).toEqual([]);
    expect(failed).toEqual([]);
    await page.close();
  });
});
