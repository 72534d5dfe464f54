// Tumbling sales windows in event time, aligned to UTC boundaries. Pure: an instant and a size
// give one window, whatever offset the instant was written with and whatever the server's zone
// (UTC has no daylight saving, so every DAY is 24 hours and every HOUR starts on the hour).

export const SALES_WINDOW_SIZES = ['MINUTE', 'HOUR', 'DAY'] as const;
export type SalesWindowSize = (typeof SALES_WINDOW_SIZES)[number];

export const WINDOW_MS: Record<SalesWindowSize, number> = {
  MINUTE: 60_000,
  HOUR: 3_600_000,
  DAY: 86_400_000,
};

export type WindowBounds = { start: Date; end: Date };

/** The window of `size` that contains `instant`: start ≤ instant < end. */
export function windowOf(size: SalesWindowSize, instant: Date): WindowBounds {
  const ms = instant.getTime();
  if (Number.isNaN(ms)) throw new RangeError('windowOf needs a valid instant');
  const length = WINDOW_MS[size];
  // Floor, not truncation: instants before 1970 still fall into the window that starts before them.
  const start = Math.floor(ms / length) * length;
  return { start: new Date(start), end: new Date(start + length) };
}

/** The end of the window of `size` that starts at `start`. */
export function windowEnd(size: SalesWindowSize, start: Date): Date {
  return new Date(start.getTime() + WINDOW_MS[size]);
}

/** How many windows of `size` start in [from, to). */
export function windowsBetween(size: SalesWindowSize, from: Date, to: Date): number {
  const length = WINDOW_MS[size];
  if (to.getTime() <= from.getTime()) return 0;
  return Math.ceil(to.getTime() / length) - Math.ceil(from.getTime() / length);
}
