// The dashboard in a real browser: headless Chromium (Debian's package, driven by playwright-core)
// against the real server. It also takes the screenshot the README shows.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runSimulation } from '../../src/cli/simulate.js';
import { type Browser, browserAvailable, launchBrowser, NO_CHROMIUM } from '../helpers/browser.js';
import { gql } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';
import { type ActivityInput, recordActivity } from '../helpers/streams.js';

const AVAILABLE = browserAvailable('dashboard.test.ts');
// The README's picture is refreshed with UPDATE_SCREENSHOTS=1 npm test; other runs leave the
// checked-in file alone, so a test run never dirties the work tree.
const SCREENSHOT_DIR =
  process.env.UPDATE_SCREENSHOTS === '1' ? 'test/screenshots' : join(tmpdir(), 'shopstream-screenshots');
const SCREENSHOT = join(SCREENSHOT_DIR, 'dashboard.png');
const RECORD_INVENTORY = `mutation ($e: [InventoryEventInput!]!) { recordInventory(events: $e) { accepted } }`;
const RECORD_PRODUCTS = `mutation ($e: [ProductEventInput!]!) { recordProducts(events: $e) { accepted } }`;

let server: TestServer;
let browser: Browser;
let n = 0;
const id = (prefix: string) => `${prefix}-${++n}`;

beforeAll(async () => {
  if (!AVAILABLE) return;
  server = await startTestServer();
  browser = await launchBrowser();
});
beforeEach(({ skip }) => skip(!AVAILABLE, NO_CHROMIUM));
afterAll(async () => {
  await browser?.close();
  await disposeAll();
});

/** Opens the dashboard and waits until its streams are live (a marker event shows in the feed). */
async function openDashboard(target: TestServer): Promise<Page> {
  const page = await browser.context.newPage();
  // Keep a handle on the page's sockets, so that a test can drop the connection.
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    const sockets: WebSocket[] = [];
    (window as unknown as { sockets: WebSocket[] }).sockets = sockets;
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        sockets.push(this);
      }
    };
  });
  await page.goto(`${target.httpBase}/`);
  await page.locator('#status[data-state="live"]').waitFor();
  for (let attempt = 0; ; attempt++) {
    if (attempt === 50) throw new Error('the activity feed never went live');
    const marker = id('marker-shopper');
    await recordActivity(target.url, [{ eventId: id('m'), userId: marker, type: 'BROWSE', productId: 'marker' }]);
    const shown = await page
      .locator('#activity-list li', { hasText: marker })
      .waitFor({ timeout: 300 })
      .then(() => true)
      .catch(() => false);
    if (shown) return page;
  }
}

const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

describe('the dashboard at /', () => {
  it('shows sales, stock warnings, activity, top products and recommendations as they happen', async () => {
    const page = await openDashboard(server);

    // The catalogue names dash-2; dash-1 stays unknown to it (shown by its bare id).
    const named = await gql(server.url, RECORD_PRODUCTS, {
      e: [{ eventId: id('c'), productId: 'dash-2', name: 'Dash Two', category: 'Demo' }],
    });
    expect(named.data?.recordProducts.accepted).toBe(1);

    // Stock: 12 units of dash-1, then a purchase of 5 crosses the threshold (10): LOW_STOCK.
    await gql(server.url, RECORD_INVENTORY, {
      e: [
        { eventId: id('i'), productId: 'dash-1', quantity: 12 },
        { eventId: id('i'), productId: 'dash-2', quantity: 50 },
      ],
    });
    const purchase = (minutes: number, productId: string, quantity: number, unitPrice: string): ActivityInput => ({
      eventId: id('buy'),
      userId: 'dash-buyer',
      type: 'PURCHASE',
      productId,
      quantity,
      unitPrice,
      currency: 'USD',
      occurredAt: minutesAgo(minutes),
    });
    await recordActivity(server.url, [purchase(0, 'dash-1', 5, '19.99'), purchase(0, 'dash-2', 1, '5.00')]);

    await expect.poll(() => page.locator('#warning-list').textContent()).toContain('LOW STOCK');
    await expect.poll(() => page.locator('#warning-list').textContent()).toContain('product dash-1: 7 left');
    await expect.poll(() => page.locator('#activity-list').textContent()).toContain('shopper dash-buyer');
    await expect.poll(() => page.locator('#activity-list').textContent()).toContain('Dash Two (dash-2)');
    await expect.poll(() => page.locator('#sales-summary').textContent()).toContain('104.95 USD revenue, 2 orders');
    expect(await page.locator('#chart canvas').count()).toBe(1);

    // A late purchase corrects an older minute: a second window appears on the chart.
    await recordActivity(server.url, [purchase(3, 'dash-2', 2, '5.00')]);
    await expect.poll(() => page.locator('#chart').getAttribute('data-windows')).toBe('2');
    await expect.poll(() => page.locator('#sales-summary').textContent()).toContain('114.95 USD revenue, 3 orders');

    // Top products are refreshed by query.
    await page.selectOption('#top-metric', 'REVENUE');
    await expect.poll(() => page.locator('#top-table').textContent()).toContain('product dash-1');

    // A shopper who looks at dash-1 is recommended what its buyer also bought.
    await recordActivity(server.url, [
      { eventId: id('b'), userId: 'dash-looker', type: 'BROWSE', productId: 'dash-1' },
    ]);
    await page.locator('#activity-list .user', { hasText: 'shopper dash-looker' }).first().click();
    await expect.poll(() => page.locator('#recommendation-list').textContent()).toContain('Dash Two (dash-2)');
    await page.close();
  });

  it('shows sales alerts in their latest state: a drop, then cleared by late events', async () => {
    const alerting = await startTestServer({ env: { SALES_ALERT_MIN_ORDERS: '5', SALES_ALERT_LATENESS_MINUTES: '0' } });
    // A steady first day (20 orders an hour, compared with the hours before), then 1 order at 16:00.
    const day = new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10);
    const orders = (hour: number, count: number, from = 0): ActivityInput[] =>
      Array.from({ length: count }, (_, i) => ({
        eventId: id('alert'),
        userId: 'alert-buyer',
        type: 'PURCHASE' as const,
        productId: 'alert-p',
        quantity: 1,
        unitPrice: '10.00',
        currency: 'USD',
        orderId: `alert-${hour}-${from + i}`,
        occurredAt: `${day}T${hour}:${String(from + i).padStart(2, '0')}:00Z`,
      }));
    for (let hour = 10; hour <= 15; hour++) await recordActivity(alerting.url, orders(hour, 20));
    const closing: ActivityInput = {
      eventId: id('alert'),
      userId: 'alert-browser',
      type: 'BROWSE',
      productId: 'alert-p',
      occurredAt: `${day}T17:00:00Z`,
    };
    await recordActivity(alerting.url, [...orders(16, 1), closing]);
    const page = await openDashboard(alerting);
    await expect.poll(() => page.locator('#alert-list').textContent()).toContain('orders (USD): 1 for 20 expected');
    // (The hours after it, silent until the dashboard's own marker events moved event time to
    // now, are drops too, as long as the hours they are compared with were busy.)
    const sixteen = { hasText: `${day} 16:00` };
    expect(await page.locator('#alert-list li[data-alert="SALES_DROP ORDERS RAISED"]', sixteen).count()).toBe(1);
    // Late purchases of 16:00: the same alert, cleared, version 2, replaces the raised one live.
    await recordActivity(alerting.url, orders(16, 19, 1));
    await expect
      .poll(() => page.locator('#alert-list li[data-alert="SALES_DROP ORDERS CLEARED"]', sixteen).textContent())
      .toContain('20 for 20 expected');
    const cleared = await page.locator('#alert-list li[data-alert="SALES_DROP ORDERS CLEARED"]', sixteen).textContent();
    expect(cleared).toContain('cleared by late events');
    expect(cleared).toContain('v2');
    expect(await page.locator('#alert-list li[data-alert="SALES_DROP ORDERS RAISED"]', sixteen).count()).toBe(0);
    await page.close();
  });

  it('resumes every stream from its last cursor after the connection drops', async () => {
    const page = await openDashboard(server);
    await page.evaluate(() => {
      for (const socket of (window as unknown as { sockets: WebSocket[] }).sockets) socket.close(1000, 'test drop');
    });
    // Sent while the page is disconnected (it waits before reconnecting): only a resumed
    // subscription can show it.
    await recordActivity(server.url, [{ eventId: id('gap'), userId: 'gap-shopper', type: 'BROWSE', productId: 'g' }]);
    await expect.poll(() => page.locator('#activity-list').textContent()).toContain('shopper gap-shopper');
    await page.locator('#status[data-state="live"]').waitFor();
    await page.close();
  });

  it('asks for a credential when the server refuses the connection, and goes live with one', async () => {
    const secret = 'a-test-secret-that-is-long-enough-0123456789';
    const guarded = await startTestServer({ env: { JWT_SECRET: secret } });
    const page = await browser.context.newPage();
    await page.goto(`${guarded.httpBase}/`);
    await page.locator('#credential-dialog[open]').waitFor();
    await page.locator('#status[data-state="refused"]').waitFor();
    const token = await new SignJWT({ role: 'staff' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('dashboard-staff')
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(secret));
    await page.fill('#credential-input', token);
    await page.click('#credential-dialog button[value="save"]');
    await page.locator('#status[data-state="live"]').waitFor();
    expect(await page.evaluate(() => localStorage.getItem('shopstream.credential'))).toBe(token);
    await page.close();
  });

  it('looks like this (the screenshot in the README)', async () => {
    // A few minutes of shop traffic, backdated a little so the chart has a history to show.
    await runSimulation({
      url: server.url,
      rate: 400,
      durationSeconds: 1.5,
      shoppers: 60,
      products: 25,
      seed: 9,
      shop: { lateShare: 0.6, restockBelow: 6 },
    });
    const page = await openDashboard(server);
    await runSimulation({ url: server.url, rate: 60, durationSeconds: 2, shoppers: 60, products: 25, seed: 10 });
    await page.locator('#activity-list .user').first().click();
    await expect.poll(() => page.locator('#recommendation-list li:not(.empty)').count()).toBeGreaterThan(0);
    await page.selectOption('#top-metric', 'PURCHASES');
    await expect.poll(() => page.locator('#top-table td.value').count()).toBeGreaterThan(0);
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
    await page.close();
  });
});
