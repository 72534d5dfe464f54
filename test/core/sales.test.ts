// The pure rules of the sales stream: window assignment and money arithmetic.
import { describe, expect, it } from 'vitest';
import type { InsertedActivityEvent } from '../../src/core/activity/record.js';
import { parseInstant } from '../../src/core/ingest/validate.js';
import { windowDeltas } from '../../src/core/sales/aggregate.js';
import { formatMoney, lineTotal, parseMoney, requireCurrency } from '../../src/core/sales/money.js';
import { windowEnd, windowOf, windowsBetween } from '../../src/core/sales/window.js';

const at = (text: string) => {
  const date = parseInstant(text);
  if (!date) throw new Error(`not an instant: ${text}`);
  return date;
};
const iso = (size: 'MINUTE' | 'HOUR' | 'DAY', text: string) => {
  const { start, end } = windowOf(size, at(text));
  return [start.toISOString(), end.toISOString()];
};

describe('windowOf', () => {
  it('puts an instant exactly on a boundary into the window that starts there', () => {
    expect(iso('DAY', '2021-09-02T00:00:00Z')).toEqual(['2021-09-02T00:00:00.000Z', '2021-09-03T00:00:00.000Z']);
    expect(iso('HOUR', '2021-09-02T13:00:00Z')).toEqual(['2021-09-02T13:00:00.000Z', '2021-09-02T14:00:00.000Z']);
    expect(iso('MINUTE', '2021-09-02T13:07:00Z')).toEqual(['2021-09-02T13:07:00.000Z', '2021-09-02T13:08:00.000Z']);
  });

  it('puts the last millisecond before a boundary into the earlier window', () => {
    expect(iso('DAY', '2021-09-01T23:59:59.999Z')[0]).toBe('2021-09-01T00:00:00.000Z');
    expect(iso('HOUR', '2021-09-01T23:59:59.999Z')[0]).toBe('2021-09-01T23:00:00.000Z');
    expect(iso('MINUTE', '2021-09-01T23:59:59.999Z')[0]).toBe('2021-09-01T23:59:00.000Z');
  });

  it('aligns to UTC whatever offset the instant was written with', () => {
    // 01:30 in Paris summer time is 23:30 UTC the day before.
    expect(iso('DAY', '2021-09-02T01:30:00+02:00')[0]).toBe('2021-09-01T00:00:00.000Z');
    expect(iso('DAY', '2021-09-01T23:30:00Z')[0]).toBe('2021-09-01T00:00:00.000Z');
    // A half-hour offset (India) lands on UTC hours, not on local ones.
    expect(iso('HOUR', '2021-09-01T10:15:00+05:30')[0]).toBe('2021-09-01T04:00:00.000Z');
    expect(iso('MINUTE', '2021-09-01T10:15:42.5-03:00')[0]).toBe('2021-09-01T13:15:00.000Z');
  });

  it('ignores daylight saving: every DAY is 24 hours, also across a local clock change', () => {
    // Europe moved its clocks on 2021-03-28 and 2021-10-31; UTC did not.
    for (const text of ['2021-03-28T12:00:00+02:00', '2021-10-31T12:00:00+01:00']) {
      const { start, end } = windowOf('DAY', at(text));
      expect(end.getTime() - start.getTime()).toBe(86_400_000);
    }
    expect(iso('HOUR', '2021-03-28T03:30:00+02:00')[0]).toBe('2021-03-28T01:00:00.000Z');
    expect(iso('HOUR', '2021-03-28T01:30:00+01:00')[0]).toBe('2021-03-28T00:00:00.000Z');
  });

  it('floors instants before 1970 into the window that contains them', () => {
    expect(iso('DAY', '1969-12-31T12:00:00Z')).toEqual(['1969-12-31T00:00:00.000Z', '1970-01-01T00:00:00.000Z']);
  });

  it('counts the windows that start in a half-open range', () => {
    const day = (d: string) => at(`2021-09-${d}T00:00:00Z`);
    expect(windowsBetween('DAY', day('01'), day('04'))).toBe(3);
    expect(windowsBetween('DAY', at('2021-09-01T00:00:01Z'), day('04'))).toBe(2);
    expect(windowsBetween('DAY', day('04'), day('01'))).toBe(0);
    expect(windowsBetween('MINUTE', day('01'), day('02'))).toBe(1440);
    expect(windowEnd('HOUR', at('2021-09-01T05:00:00Z')).toISOString()).toBe('2021-09-01T06:00:00.000Z');
  });
});

describe('money arithmetic', () => {
  it('multiplies and adds in integer minor units, exactly where floats would drift', () => {
    const price = parseMoney('0.10', 'USD');
    expect(price).toEqual({ ok: true, minor: 10n });
    // 0.1 + 0.2 !== 0.3 in floats; 10 + 20 === 30 in minor units.
    expect(formatMoney(lineTotal(10n, 1) + lineTotal(20n, 1), 'USD')).toBe('0.30');
    expect(formatMoney(lineTotal(1999n, 3), 'USD')).toBe('59.97');
    // Far beyond 2^53 (where a double loses cents), still exact.
    expect(formatMoney(lineTotal(10n ** 15n, 1_000_000), 'USD')).toBe('10000000000000000000.00');
  });

  it('rejects amounts with more decimals than the currency has instead of rounding them', () => {
    expect(parseMoney('19.995', 'USD')).toEqual({ ok: false, reason: 'TOO_MANY_DECIMALS' });
    expect(parseMoney('100.5', 'JPY')).toEqual({ ok: false, reason: 'TOO_MANY_DECIMALS' });
    expect(parseMoney('1.2345', 'KWD')).toEqual({ ok: false, reason: 'TOO_MANY_DECIMALS' });
    expect(parseMoney('19.990', 'USD')).toEqual({ ok: true, minor: 1999n });
  });

  it('formats each currency with its own decimals', () => {
    expect(formatMoney(100000n, 'USD')).toBe('1000.00');
    expect(formatMoney(100000n, 'JPY')).toBe('100000');
    expect(formatMoney(100000n, 'KWD')).toBe('100.000');
  });

  it('accepts ISO 4217 codes in any case and refuses anything else with BAD_USER_INPUT', () => {
    expect(requireCurrency('eur')).toBe('EUR');
    for (const bad of ['EURO', 'XYZ', '', '12']) {
      expect(() => requireCurrency(bad)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
    }
  });
});

describe('windowDeltas', () => {
  let n = 0;
  const purchase = (
    occurredAt: string,
    unitPriceMinor: bigint,
    extra: Partial<InsertedActivityEvent> = {},
  ): InsertedActivityEvent => ({
    eventId: `e${++n}`,
    userId: 'u',
    type: 'PURCHASE',
    productId: 'p',
    quantity: 1,
    unitPriceMinor,
    currency: 'USD',
    orderId: null,
    occurredAt: at(occurredAt),
    txId: 1n,
    seq: BigInt(n),
    ...extra,
  });

  it('adds quantity × unitPrice and units to the MINUTE, HOUR and DAY windows of each purchase, per currency', () => {
    const deltas = windowDeltas([
      purchase('2021-09-01T10:00:30Z', 250n, { quantity: 4 }),
      purchase('2021-09-01T10:59:00Z', 100n),
      purchase('2021-09-01T10:00:10Z', 500n, { currency: 'EUR' }),
      { ...purchase('2021-09-01T10:00:10Z', 0n), type: 'BROWSE', unitPriceMinor: null, currency: null },
    ]);
    const view = deltas.map((d) => [d.size, d.start.toISOString(), d.currency, d.revenueMinor, d.units]);
    expect(view).toEqual([
      ['DAY', '2021-09-01T00:00:00.000Z', 'EUR', 500n, 1],
      ['DAY', '2021-09-01T00:00:00.000Z', 'USD', 1100n, 5],
      ['HOUR', '2021-09-01T10:00:00.000Z', 'EUR', 500n, 1],
      ['HOUR', '2021-09-01T10:00:00.000Z', 'USD', 1100n, 5],
      ['MINUTE', '2021-09-01T10:00:00.000Z', 'EUR', 500n, 1],
      ['MINUTE', '2021-09-01T10:00:00.000Z', 'USD', 1000n, 4],
      ['MINUTE', '2021-09-01T10:59:00.000Z', 'USD', 100n, 1],
    ]);
  });

  it('counts each purchase without an orderId as an order and collects distinct orderIds', () => {
    const [day] = windowDeltas([
      purchase('2021-09-01T10:00:00Z', 1n, { orderId: 'o1' }),
      purchase('2021-09-01T11:00:00Z', 1n, { orderId: 'o1' }),
      purchase('2021-09-01T12:00:00Z', 1n, { orderId: 'o2' }),
      purchase('2021-09-01T13:00:00Z', 1n),
      purchase('2021-09-01T14:00:00Z', 1n),
    ]);
    expect(day?.size).toBe('DAY');
    expect(day?.looseOrders).toBe(2);
    expect([...(day?.orderIds ?? [])].sort()).toEqual(['o1', 'o2']);
  });
});
