// Sales windows on the shop's clock (SHOP_TIME_ZONE): local days across daylight saving and local
// hours in zones whose offset is not a whole number of hours.
import { describe, expect, it } from 'vitest';
import type { InsertedActivityEvent } from '../../src/core/activity/record.js';
import { windowDeltas } from '../../src/core/sales/aggregate.js';
import {
  createShopCalendar,
  isTimeZone,
  localTime,
  type SalesWindowSize,
  windowOf,
} from '../../src/core/sales/window.js';

const HOUR = 3_600_000;
const window = (size: SalesWindowSize, instant: string, zone: string) => {
  const { start, end } = windowOf(size, new Date(instant), zone);
  return { start: start.toISOString(), end: end.toISOString(), hours: (end.getTime() - start.getTime()) / HOUR };
};

describe('DAY windows on the shop clock', () => {
  it('the day daylight saving starts lasts 23 hours (America/New_York 2026-03-08)', () => {
    expect(window('DAY', '2026-03-08T12:00:00Z', 'America/New_York')).toEqual({
      start: '2026-03-08T05:00:00.000Z', // 00:00 EST
      end: '2026-03-09T04:00:00.000Z', // 00:00 EDT
      hours: 23,
    });
  });

  it('the day daylight saving ends lasts 25 hours (America/New_York 2026-11-01)', () => {
    expect(window('DAY', '2026-11-01T12:00:00Z', 'America/New_York')).toEqual({
      start: '2026-11-01T04:00:00.000Z',
      end: '2026-11-02T05:00:00.000Z',
      hours: 25,
    });
  });

  it('cuts at local midnight: the last millisecond before it and the instant on it fall on two days', () => {
    expect(window('DAY', '2026-03-08T04:59:59.999Z', 'America/New_York').start).toBe('2026-03-07T05:00:00.000Z');
    expect(window('DAY', '2026-03-08T05:00:00Z', 'America/New_York').start).toBe('2026-03-08T05:00:00.000Z');
    // 23:59 EDT on 2026-03-08 is already 2026-03-09 in UTC.
    expect(window('DAY', '2026-03-09T03:59:00Z', 'America/New_York').start).toBe('2026-03-08T05:00:00.000Z');
    // Shanghai (+08:00): 2026-03-08T17:00Z is 01:00 on the 9th.
    expect(window('DAY', '2026-03-08T17:00:00Z', 'Asia/Shanghai')).toEqual({
      start: '2026-03-08T16:00:00.000Z',
      end: '2026-03-09T16:00:00.000Z',
      hours: 24,
    });
  });

  it('a half-hour zone cuts its day at its own midnight (Asia/Kolkata +05:30)', () => {
    expect(window('DAY', '2026-03-08T18:29:59Z', 'Asia/Kolkata').start).toBe('2026-03-07T18:30:00.000Z');
    expect(window('DAY', '2026-03-08T18:30:00Z', 'Asia/Kolkata').start).toBe('2026-03-08T18:30:00.000Z');
  });

  it('stays UTC without a zone, as before', () => {
    expect(window('DAY', '2026-03-08T12:00:00Z', 'UTC')).toEqual({
      start: '2026-03-08T00:00:00.000Z',
      end: '2026-03-09T00:00:00.000Z',
      hours: 24,
    });
    expect(windowOf('DAY', new Date('2026-03-08T12:00:00Z')).start.toISOString()).toBe('2026-03-08T00:00:00.000Z');
  });
});

describe('HOUR windows on the shop clock', () => {
  it('start on the local hour in zones with a half or three-quarter hour offset', () => {
    expect(window('HOUR', '2026-03-08T10:29:00Z', 'Asia/Kolkata')).toEqual({
      start: '2026-03-08T09:30:00.000Z', // 15:00 IST
      end: '2026-03-08T10:30:00.000Z',
      hours: 1,
    });
    expect(window('HOUR', '2026-03-08T10:20:00Z', 'Asia/Kathmandu')).toEqual({
      start: '2026-03-08T10:15:00.000Z', // 16:00 NPT
      end: '2026-03-08T11:15:00.000Z',
      hours: 1,
    });
  });

  it('the repeated 01:00 of a fall-back day is two windows, told apart by their offset', () => {
    const first = windowOf('HOUR', new Date('2026-11-01T05:30:00Z'), 'America/New_York');
    const second = windowOf('HOUR', new Date('2026-11-01T06:30:00Z'), 'America/New_York');
    expect(first.start.toISOString()).toBe('2026-11-01T05:00:00.000Z');
    expect(second.start.toISOString()).toBe('2026-11-01T06:00:00.000Z');
    expect(localTime(first.start, 'America/New_York')).toBe('2026-11-01T01:00:00-04:00');
    expect(localTime(second.start, 'America/New_York')).toBe('2026-11-01T01:00:00-05:00');
  });

  it('the skipped 02:00 of a spring-forward day does not exist: 01:59 EST is followed by 03:00 EDT', () => {
    expect(window('HOUR', '2026-03-08T06:59:00Z', 'America/New_York').start).toBe('2026-03-08T06:00:00.000Z');
    expect(window('HOUR', '2026-03-08T07:00:00Z', 'America/New_York').start).toBe('2026-03-08T07:00:00.000Z');
    expect(localTime(new Date('2026-03-08T07:00:00Z'), 'America/New_York')).toBe('2026-03-08T03:00:00-04:00');
  });

  it('MINUTE windows are UTC minutes in every zone', () => {
    expect(window('MINUTE', '2026-03-08T10:20:31Z', 'Asia/Kathmandu').start).toBe('2026-03-08T10:20:00.000Z');
  });
});

describe('the shop calendar', () => {
  it('knows IANA names and refuses others', () => {
    expect(isTimeZone('Asia/Kathmandu')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(() => createShopCalendar('Mars/Olympus_Mons')).toThrow(/unknown time zone "Mars\/Olympus_Mons"/);
  });

  it('gives each window its local start, also for instants that reuse the window found before', () => {
    const calendar = createShopCalendar('America/New_York');
    const a = calendar.windowOf('DAY', new Date('2026-11-01T04:00:00Z'));
    const b = calendar.windowOf('DAY', new Date('2026-11-02T04:59:59.999Z'));
    expect(b).toBe(a);
    expect(a.localStart).toBe('2026-11-01T00:00:00-04:00');
    const next = calendar.windowOf('DAY', new Date('2026-11-02T05:00:00Z'));
    expect(next.localStart).toBe('2026-11-02T00:00:00-05:00');
  });

  it('windowDeltas sums a batch per local day', () => {
    const purchase = (occurredAt: string, price: bigint) =>
      ({
        type: 'PURCHASE',
        occurredAt: new Date(occurredAt),
        unitPriceMinor: price,
        currency: 'USD',
        quantity: 1,
        orderId: null,
      }) as unknown as InsertedActivityEvent;
    const deltas = windowDeltas(
      [
        purchase('2026-03-08T05:00:00Z', 100n), // 00:00 EST, 8 March
        purchase('2026-03-09T03:59:00Z', 200n), // 23:59 EDT, 8 March
        purchase('2026-03-09T04:00:00Z', 400n), // 00:00 EDT, 9 March
      ],
      createShopCalendar('America/New_York'),
    ).filter((d) => d.size === 'DAY');
    expect(
      deltas.map((d) => ({ local: d.localStart, end: d.end.toISOString(), revenue: d.revenueMinor, units: d.units })),
    ).toEqual([
      { local: '2026-03-08T00:00:00-05:00', end: '2026-03-09T04:00:00.000Z', revenue: 300n, units: 2 },
      { local: '2026-03-09T00:00:00-04:00', end: '2026-03-10T04:00:00.000Z', revenue: 400n, units: 1 },
    ]);
  });
});
