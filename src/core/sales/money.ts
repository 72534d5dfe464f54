// Money is integer minor units (bigint) inside, a decimal string outside; never a float.
import { isCurrencyCode } from '../../config.js';
import { InvalidInput } from '../errors.js';

/** How many decimals the currency has (USD 2, JPY 0, KWD 3), from ISO 4217 via ICU. */
export function currencyDigits(currency: string): number {
  let digits = DIGITS.get(currency);
  if (digits === undefined) {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
    DIGITS.set(currency, digits);
  }
  return digits;
}

const DIGITS = new Map<string, number>();

export type ParsedMoney =
  | { ok: true; minor: bigint }
  | { ok: false; reason: 'NOT_A_DECIMAL' | 'TOO_MANY_DECIMALS' | 'NEGATIVE' | 'TOO_LARGE' };

/** Largest amount accepted for one unit price, in minor units (keeps sums far inside bigint). */
export const MAX_MINOR = 10n ** 15n;

/** "19.99" in USD → 1999n. Refuses floats' friends: exponents, commas, more decimals than the currency has. */
export function parseMoney(text: string, currency: string): ParsedMoney {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!match) return { ok: false, reason: 'NOT_A_DECIMAL' };
  const [, sign, whole = '0', fraction = ''] = match;
  const digits = currencyDigits(currency);
  // Trailing zeros past the currency's precision ("19.990") are exact, so they are fine.
  const significant = fraction.replace(/0+$/, '');
  if (significant.length > digits) return { ok: false, reason: 'TOO_MANY_DECIMALS' };
  const minor = BigInt(whole + significant.padEnd(digits, '0'));
  if (sign === '-' && minor !== 0n) return { ok: false, reason: 'NEGATIVE' };
  if (minor > MAX_MINOR) return { ok: false, reason: 'TOO_LARGE' };
  return { ok: true, minor };
}

/** 1999n in USD → "19.99"; 1500n in JPY → "1500". */
export function formatMoney(minor: bigint, currency: string): string {
  const digits = currencyDigits(currency);
  const negative = minor < 0n;
  const text = (negative ? -minor : minor).toString().padStart(digits + 1, '0');
  const whole = text.slice(0, text.length - digits);
  const fraction = text.slice(text.length - digits);
  return `${negative ? '-' : ''}${whole}${digits > 0 ? `.${fraction}` : ''}`;
}

/** A currency argument of a query ("usd" → "USD"); anything but an ISO 4217 code is refused. */
export function requireCurrency(text: string): string {
  const code = text.trim().toUpperCase();
  if (!isCurrencyCode(code)) {
    throw new InvalidInput(`currency must be an ISO 4217 code such as USD, got ${JSON.stringify(text)}`);
  }
  return code;
}

/** Adds amounts of one currency exactly: quantity × unit price summed in minor units. */
export function lineTotal(unitPriceMinor: bigint, quantity: number): bigint {
  return unitPriceMinor * BigInt(quantity);
}
