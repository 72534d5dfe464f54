import { describe, expect, it } from 'vitest';
import { currencyDigits, formatMoney, parseMoney } from '../../src/core/sales/money.js';

describe('money', () => {
  it('knows each currency’s decimals from ISO 4217', () => {
    expect([currencyDigits('USD'), currencyDigits('JPY'), currencyDigits('KWD')]).toEqual([2, 0, 3]);
  });

  it.each([
    ['19.99', 'USD', 1999n],
    ['0.1', 'USD', 10n],
    ['1500', 'JPY', 1500n],
    ['1.234', 'KWD', 1234n],
    ['9007199254740.93', 'USD', 900719925474093n],
  ])('parses %s %s exactly to %s minor units', (text, currency, minor) => {
    expect(parseMoney(text, currency)).toEqual({ ok: true, minor });
  });

  it.each([
    ['19.999', 'USD', 'TOO_MANY_DECIMALS'],
    ['1.5', 'JPY', 'TOO_MANY_DECIMALS'],
    ['1e2', 'USD', 'NOT_A_DECIMAL'],
    ['1,00', 'USD', 'NOT_A_DECIMAL'],
    ['-0.01', 'USD', 'NEGATIVE'],
    ['100000000000000000', 'USD', 'TOO_LARGE'],
  ])('refuses %s %s (%s)', (text, currency, reason) => {
    expect(parseMoney(text, currency)).toEqual({ ok: false, reason });
  });

  it.each([
    [1999n, 'USD', '19.99'],
    [5n, 'USD', '0.05'],
    [100000n, 'USD', '1000.00'],
    [1500n, 'JPY', '1500'],
    [1n, 'KWD', '0.001'],
  ])('formats %s %s as %s', (minor, currency, text) => {
    expect(formatMoney(minor, currency)).toBe(text);
  });
});
