// Tumbling sales windows in event time, on the shop's own clock (SHOP_TIME_ZONE). Pure: an
// instant, a size and a zone give one window, whatever offset the instant was written with and
// whatever the server's zone. A DAY runs from local midnight to the next (23 or 25 hours across a
// daylight-saving change); an HOUR starts on the local hour (on :30 or :45 in Asia/Kolkata or
// Asia/Kathmandu); a MINUTE is a UTC minute (every zone's offset is a whole number of minutes).
// The zone arithmetic is Luxon's (IANA rules through Intl): no offsets are computed by hand.
import { DateTime, IANAZone } from 'luxon';

export const SALES_WINDOW_SIZES = ['MINUTE', 'HOUR', 'DAY'] as const;
export type SalesWindowSize = (typeof SALES_WINDOW_SIZES)[number];

/** The nominal length of each size: exact in UTC, used only for limits and pruning elsewhere. */
export const WINDOW_MS: Record<SalesWindowSize, number> = {
  MINUTE: 60_000,
  HOUR: 3_600_000,
  DAY: 86_400_000,
};

/** The longest a window of each size can last in any zone (a DAY ending daylight saving: 25 h). */
export const LONGEST_WINDOW_MS: Record<SalesWindowSize, number> = { ...WINDOW_MS, DAY: 25 * 3_600_000 };

export type WindowBounds = { start: Date; end: Date };

/** A window as the shop sees it: `localStart` is its start on the shop's clock, with the offset in
 * force then ("2026-11-01T01:00:00-05:00"), so the repeated hour of a DST change is unambiguous. */
export type LocalWindow = WindowBounds & { localStart: string };

export const DEFAULT_TIME_ZONE = 'UTC';

/** True for a time-zone name this runtime knows (IANA, e.g. "Asia/Kathmandu", or "UTC"). */
export function isTimeZone(name: string): boolean {
  return IANAZone.isValidZone(name);
}

/** The window of `size` that contains `instant` on the clock of `zone`: start ≤ instant < end. */
export function windowOf(size: SalesWindowSize, instant: Date, zone: string = DEFAULT_TIME_ZONE): WindowBounds {
  const ms = instant.getTime();
  if (Number.isNaN(ms)) throw new RangeError('windowOf needs a valid instant');
  if (size === 'MINUTE' || zone === DEFAULT_TIME_ZONE) {
    const length = WINDOW_MS[size];
    // Floor, not truncation: instants before 1970 still fall into the window that starts before them.
    const start = Math.floor(ms / length) * length;
    return { start: new Date(start), end: new Date(start + length) };
  }
  const local = DateTime.fromMillis(ms, { zone });
  if (size === 'HOUR') {
    // startOf keeps the offset in force, so each of the two 01:00 hours of a fall-back day is its own window.
    const start = local.startOf('hour');
    return { start: start.toJSDate(), end: start.plus({ hours: 1 }).toJSDate() };
  }
  const start = local.startOf('day');
  // The next day's start, not start + 24 h; startOf again in case a zone skips its midnight.
  return { start: start.toJSDate(), end: start.plus({ days: 1 }).startOf('day').toJSDate() };
}

/** The end of the window of `size` that starts at `start` on the clock of `zone`. */
export function windowEnd(size: SalesWindowSize, start: Date, zone: string = DEFAULT_TIME_ZONE): Date {
  return windowOf(size, start, zone).end;
}

/** `instant` on the clock of `zone`, with its offset: "2026-03-08T00:00:00-05:00". */
export function localTime(instant: Date, zone: string = DEFAULT_TIME_ZONE): string {
  return DateTime.fromMillis(instant.getTime(), { zone }).toFormat("yyyy-MM-dd'T'HH:mm:ssZZ");
}

/**
 * The windows of one zone, remembering the last window of each size: the events of a batch are
 * mostly close in time, so most of them fall into the window found for the one before and cost
 * a comparison instead of a time-zone computation.
 */
export type ShopCalendar = { zone: string; windowOf(size: SalesWindowSize, instant: Date): LocalWindow };

export function createShopCalendar(zone: string = DEFAULT_TIME_ZONE): ShopCalendar {
  if (!isTimeZone(zone)) throw new RangeError(`unknown time zone "${zone}"`);
  const last = new Map<SalesWindowSize, { startMs: number; endMs: number; window: LocalWindow }>();
  return {
    zone,
    windowOf(size, instant) {
      const ms = instant.getTime();
      const hit = last.get(size);
      if (hit && hit.startMs <= ms && ms < hit.endMs) return hit.window;
      const bounds = windowOf(size, instant, zone);
      const window = { start: bounds.start, end: bounds.end, localStart: localTime(bounds.start, zone) };
      last.set(size, { startMs: bounds.start.getTime(), endMs: bounds.end.getTime(), window });
      return window;
    },
  };
}

/** How many windows of `size` start in [from, to), counted in UTC: near enough for a limit. */
export function windowsBetween(size: SalesWindowSize, from: Date, to: Date): number {
  const length = WINDOW_MS[size];
  if (to.getTime() <= from.getTime()) return 0;
  return Math.ceil(to.getTime() / length) - Math.ceil(from.getTime() / length);
}
