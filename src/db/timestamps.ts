// PostgreSQL's text form of a timestamptz ("2026-11-25 15:00:00.123456+00"), parsed without a
// regular expression. The pg driver's own parser (postgres-date) runs three regular expressions per
// value: with two timestamps per activity row it was about 8% of a per-shopper delivery, and a
// share of every log read. The common shape (ISO DateStyle, years 1000–9999, whole-hour or
// hour:minute offsets) takes the fast path; anything else (BC, infinity, an offset with seconds)
// goes to postgres-date, so the results are the same: milliseconds truncated, as it does.
import pg from 'pg';

const TIMESTAMPTZ_OID = 1184;
const fallback = pg.types.getTypeParser(TIMESTAMPTZ_OID, 'text') as (text: string) => Date;

const digit = (text: string, at: number): number => text.charCodeAt(at) - 48;
const two = (text: string, at: number): number => digit(text, at) * 10 + digit(text, at + 1);

export function parseTimestamptz(text: string): Date {
  // "YYYY-MM-DD HH:MM:SS" at least, then an optional fraction and the offset.
  if (
    text.length < 22 ||
    text.charCodeAt(4) !== 45 /* - */ ||
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 32 /*   */ ||
    text.charCodeAt(13) !== 58 /* : */ ||
    text.charCodeAt(16) !== 58
  ) {
    return fallback(text);
  }
  let at = 19;
  let ms = 0;
  if (text.charCodeAt(at) === 46 /* . */) {
    at++;
    let scale = 100;
    for (; at < text.length; at++) {
      const d = digit(text, at);
      if (d < 0 || d > 9) break;
      ms += d * scale;
      scale /= 10;
    }
    ms = Math.trunc(ms);
  }
  const sign = text.charCodeAt(at);
  const rest = text.length - at;
  // "+HH" or "+HH:MM"; anything else (seconds in the offset, " BC") is the fallback's.
  if ((sign !== 43 /* + */ && sign !== 45) || (rest !== 3 && !(rest === 6 && text.charCodeAt(at + 3) === 58))) {
    return fallback(text);
  }
  const year = two(text, 0) * 100 + two(text, 2);
  if (year < 1000) return fallback(text);
  const offsetMinutes = two(text, at + 1) * 60 + (rest === 6 ? two(text, at + 4) : 0);
  const utc = Date.UTC(year, two(text, 5) - 1, two(text, 8), two(text, 11), two(text, 14), two(text, 17), ms);
  return new Date(utc - (sign === 43 ? 1 : -1) * offsetMinutes * 60_000);
}

/** For pg.Pool's `types`: timestamptz through parseTimestamptz, every other type as pg does. */
export const poolTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === TIMESTAMPTZ_OID && format !== 'binary') return parseTimestamptz;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;
