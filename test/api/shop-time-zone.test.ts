// SHOP_TIME_ZONE through the real server and real PostgreSQL: DAY windows from local midnight to
// local midnight (23 and 25 hours across daylight saving), HOUR windows on a +05:45 zone's hours,
// a late purchase landing in its local day, and a changed zone refused on a database with windows.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { recomputeSalesWindows } from '../../src/core/sales/time-zone.js';
import { closeAllClients, gql } from '../helpers/clients.js';
import { disposeAll, startTestServer, type TestServer } from '../helpers/server.js';

const RECORD = `mutation ($events: [ActivityEventInput!]!) {
  recordActivity(events: $events) { accepted errors { index code } }
}`;
const SALES = `query ($size: SalesWindowSize!, $from: DateTime!, $to: DateTime!) {
  sales(size: $size, from: $from, to: $to, currency: "USD") { localDate localStart start end revenue units revision }
}`;

type Window = {
  localDate: string;
  localStart: string;
  start: string;
  end: string;
  revenue: string;
  units: number;
  revision: number;
};

let n = 0;
const purchase = (occurredAt: string, unitPrice: string) => ({
  eventId: `tz-${++n}`,
  userId: 'buyer',
  type: 'PURCHASE',
  productId: 'p',
  unitPrice,
  currency: 'USD',
  occurredAt,
});

async function record(server: TestServer, events: unknown[]) {
  const response = await gql(server.url, RECORD, { events });
  expect(response.errors).toBeUndefined();
  expect(response.data?.recordActivity.errors).toEqual([]);
}

async function sales(server: TestServer, size: string, from: string, to: string): Promise<Window[]> {
  const response = await gql(server.url, SALES, { size, from, to });
  if (response.errors) throw new Error(JSON.stringify(response.errors));
  return response.data?.sales as Window[];
}

afterAll(async () => {
  await closeAllClients();
  await disposeAll();
});

describe('SHOP_TIME_ZONE=America/New_York', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { SHOP_TIME_ZONE: 'America/New_York' } });
  });

  it('a DAY runs from local midnight to local midnight: 23 hours in spring, 25 in autumn', async () => {
    await record(server, [
      purchase('2026-03-08T04:59:59Z', '1.00'), // 23:59:59 EST on 7 March
      purchase('2026-03-08T05:00:00Z', '10.00'), // 00:00 EST on 8 March
      purchase('2026-03-09T03:59:00Z', '20.00'), // 23:59 EDT on 8 March (9 March in UTC)
      purchase('2026-03-09T04:00:00Z', '40.00'), // 00:00 EDT on 9 March
      purchase('2026-11-01T05:30:00Z', '3.00'), // 01:30 EDT on 1 November
      purchase('2026-11-01T06:30:00Z', '5.00'), // 01:30 EST, the same wall-clock hour again
      purchase('2026-11-02T04:59:00Z', '7.00'), // 23:59 EST on 1 November
    ]);
    const march = await sales(server, 'DAY', '2026-03-07T00:00:00Z', '2026-03-10T00:00:00Z');
    expect(
      march.map(({ localDate, localStart, start, end, revenue }) => ({ localDate, localStart, start, end, revenue })),
    ).toEqual([
      {
        localDate: '2026-03-07',
        localStart: '2026-03-07T00:00:00-05:00',
        start: '2026-03-07T05:00:00.000Z',
        end: '2026-03-08T05:00:00.000Z',
        revenue: '1.00',
      },
      {
        localDate: '2026-03-08',
        localStart: '2026-03-08T00:00:00-05:00',
        start: '2026-03-08T05:00:00.000Z',
        end: '2026-03-09T04:00:00.000Z', // 23 hours
        revenue: '30.00',
      },
      {
        localDate: '2026-03-09',
        localStart: '2026-03-09T00:00:00-04:00',
        start: '2026-03-09T04:00:00.000Z',
        end: '2026-03-10T04:00:00.000Z',
        revenue: '40.00',
      },
    ]);
    const november = await sales(server, 'DAY', '2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z');
    expect(november).toMatchObject([
      {
        localDate: '2026-11-01',
        start: '2026-11-01T04:00:00.000Z',
        end: '2026-11-02T05:00:00.000Z', // 25 hours
        revenue: '15.00',
        units: 3,
      },
    ]);
    // The repeated 01:00 hour is two HOUR windows, told apart by the offset of their localStart.
    const hours = await sales(server, 'HOUR', '2026-11-01T05:00:00Z', '2026-11-01T07:00:00Z');
    expect(hours.map((h) => [h.localStart, h.revenue])).toEqual([
      ['2026-11-01T01:00:00-04:00', '3.00'],
      ['2026-11-01T01:00:00-05:00', '5.00'],
    ]);
  });

  it('a late purchase, after later days were sold, corrects its own local day, not the UTC one', async () => {
    await record(server, [purchase('2026-03-20T15:00:00Z', '1.00')]);
    // 22:30 EDT on 8 March: 9 March in UTC.
    await record(server, [purchase('2026-03-09T02:30:00Z', '0.50')]);
    const days = await sales(server, 'DAY', '2026-03-08T00:00:00Z', '2026-03-10T00:00:00Z');
    expect(days.map((d) => [d.localDate, d.revenue, d.revision])).toEqual([
      ['2026-03-08', '30.50', 2],
      ['2026-03-09', '40.00', 1],
    ]);
  });
});

describe('SHOP_TIME_ZONE=Asia/Kathmandu (+05:45)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { SHOP_TIME_ZONE: 'Asia/Kathmandu' } });
  });

  it('HOUR windows start on the local hour, a quarter past the UTC hour; DAY windows at local midnight', async () => {
    await record(server, [
      purchase('2026-03-08T10:14:59Z', '1.00'), // 15:59:59 local
      purchase('2026-03-08T10:15:00Z', '2.00'), // 16:00 local
      purchase('2026-03-08T18:14:00Z', '4.00'), // 23:59 local
      purchase('2026-03-08T18:15:00Z', '8.00'), // 00:00 on 9 March local
    ]);
    const hours = await sales(server, 'HOUR', '2026-03-08T09:00:00Z', '2026-03-08T11:00:00Z');
    expect(hours.map((h) => [h.localStart, h.start, h.end, h.revenue])).toEqual([
      ['2026-03-08T15:00:00+05:45', '2026-03-08T09:15:00.000Z', '2026-03-08T10:15:00.000Z', '1.00'],
      ['2026-03-08T16:00:00+05:45', '2026-03-08T10:15:00.000Z', '2026-03-08T11:15:00.000Z', '2.00'],
    ]);
    const days = await sales(server, 'DAY', '2026-03-07T00:00:00Z', '2026-03-10T00:00:00Z');
    expect(days.map((d) => [d.localDate, d.start, d.revenue])).toEqual([
      ['2026-03-08', '2026-03-07T18:15:00.000Z', '7.00'],
      ['2026-03-09', '2026-03-08T18:15:00.000Z', '8.00'],
    ]);
  });
});

describe('a bad or changed zone', () => {
  it('an unknown zone stops start-up with a message naming SHOP_TIME_ZONE', () => {
    let error: unknown;
    try {
      loadConfig({ SHOP_TIME_ZONE: 'Mars/Olympus_Mons' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(
      /SHOP_TIME_ZONE must be an IANA time-zone name .* got "Mars\/Olympus_Mons"/,
    );
  });

  it('another zone is refused on a database with windows, until they are recomputed in it', async () => {
    const first = await startTestServer({ env: { SHOP_TIME_ZONE: 'UTC' } });
    await record(first, [purchase('2026-03-08T20:00:00Z', '9.00')]);
    await first.stop();

    await expect(
      startTestServer({ databaseUrl: first.databaseUrl, env: { SHOP_TIME_ZONE: 'Asia/Tokyo' } }),
    ).rejects.toThrow(/SHOP_TIME_ZONE is "Asia\/Tokyo" but this database's sales windows were computed in "UTC"/);

    const pool = new pg.Pool({ connectionString: first.databaseUrl });
    try {
      expect((await pool.query('SELECT 1 FROM sales_alert_state')).rowCount).toBe(1);
      expect(await recomputeSalesWindows(pool, 'Asia/Tokyo')).toEqual({ windows: 3 });
      // The sales alerts start over in the new zone too.
      expect((await pool.query('SELECT 1 FROM sales_alert_state')).rowCount).toBe(0);
      const { rows } = await pool.query(
        `SELECT tx_id::text FROM processor_checkpoints WHERE processor = 'sales-alerts' AND log = 'activity'`,
      );
      expect(rows).toEqual([{ tx_id: '0' }]);
    } finally {
      await pool.end();
    }
    const tokyo = await startTestServer({ databaseUrl: first.databaseUrl, env: { SHOP_TIME_ZONE: 'Asia/Tokyo' } });
    await tokyo.core.settle();
    // Recomputed from the log: 20:00Z is 05:00 on 9 March in Tokyo.
    const days = await sales(tokyo, 'DAY', '2026-03-08T00:00:00Z', '2026-03-10T00:00:00Z');
    expect(days.map((d) => [d.localDate, d.start, d.revenue, d.revision])).toEqual([
      ['2026-03-09', '2026-03-08T15:00:00.000Z', '9.00', 1],
    ]);
  });
});
