// The pure rules of the sales alerts: which past hours an HOUR window is compared with, what is
// normal for it (the median of those hours), and how unusual it is (a robust z-score). No
// database and no clock: the processor (alerts.ts) gives the values, these give the verdict.
//
// Method: expected = median of the comparison hours; spread = the larger of 1.4826 × MAD (the
// median absolute deviation, scaled to a standard deviation) and Poisson noise (√expected for
// counts, expected revenue / √expected orders for revenue); score = (observed − expected) / spread.
// The median and MAD ignore one odd hour in the history (last week's outage does not make this
// week's normal look like a spike); the Poisson floor keeps a very regular history from turning
// ordinary counting noise into alerts.
import { DateTime } from 'luxon';
import type { ShopCalendar } from './window.js';

export const SALES_ALERT_KINDS = ['SALES_DROP', 'SALES_SPIKE'] as const;
export type SalesAlertKind = (typeof SALES_ALERT_KINDS)[number];

export const SALES_ALERT_METRICS = ['ORDERS', 'REVENUE', 'UNITS'] as const;
export type SalesAlertMetric = (typeof SALES_ALERT_METRICS)[number];

/** Which history an hour was compared with. */
export type SalesAlertBaseline = 'WEEKS' | 'DAYS' | 'HOURS';

export type SalesAlertSettings = {
  sensitivity: number;
  minOrders: number;
  minUnits: number;
  latenessMinutes: number;
  historyWeeks: number;
};

/** Fewer comparison hours than this and the next, shorter history is tried; none: no verdict. */
export const MIN_SAMPLES = 3;
/** The fallbacks: the same hour on the trailing days, then the hours just before. */
const FALLBACK_DAYS = 7;
const FALLBACK_HOURS = 6;
const MAD_TO_SD = 1.4826;

export type ComparisonHours = { baseline: SalesAlertBaseline; hours: Date[] };

/**
 * The starts of the hours an HOUR window starting at `start` is compared with: the same hour of
 * the shop's week over the trailing `weeks` (on the shop's clock, so across a daylight-saving
 * change too), if at least MIN_SAMPLES of them are on or after `firstHour` (the first hour with
 * activity); else the same hour of the trailing days; else the hours just before. Null when even
 * those are too few (a new shop's first hours are not judged).
 */
export function comparisonHours(
  start: Date,
  firstHour: Date,
  calendar: ShopCalendar,
  weeks: number,
): ComparisonHours | null {
  const local = DateTime.fromJSDate(start, { zone: calendar.zone });
  const candidates: Array<[SalesAlertBaseline, number, 'weeks' | 'days' | 'hours']> = [
    ['WEEKS', weeks, 'weeks'],
    ['DAYS', FALLBACK_DAYS, 'days'],
    ['HOURS', FALLBACK_HOURS, 'hours'],
  ];
  for (const [baseline, count, unit] of candidates) {
    const hours: Date[] = [];
    for (let k = 1; k <= count; k++) {
      const shifted = local.minus({ [unit]: k }).toJSDate();
      // Normalised through the calendar: a shifted instant inside a skipped or repeated hour
      // lands on the window that really exists.
      const hour = calendar.windowOf('HOUR', shifted).start;
      if (hour.getTime() >= firstHour.getTime()) hours.push(hour);
    }
    if (hours.length >= MIN_SAMPLES) return { baseline, hours };
  }
  return null;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  if (sorted.length % 2 === 1) return sorted[middle] as number;
  return ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** The median of amounts in minor units, exact (an even count: the lower half-cent dropped). */
export function medianMinor(values: readonly bigint[]): bigint {
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const middle = sorted.length >> 1;
  if (sorted.length % 2 === 1) return sorted[middle] as bigint;
  return ((sorted[middle - 1] as bigint) + (sorted[middle] as bigint)) / 2n;
}

function mad(values: readonly number[], center: number): number {
  return median(values.map((v) => Math.abs(v - center)));
}

export type Judgement = { expected: number; score: number };

/** A count (orders, units) against its history: Poisson noise is the least spread assumed. */
export function judgeCount(observed: number, samples: readonly number[]): Judgement {
  const expected = median(samples);
  const spread = Math.max(MAD_TO_SD * mad(samples, expected), Math.sqrt(Math.max(expected, 1)));
  return { expected, score: round((observed - expected) / spread) };
}

/**
 * Revenue against its history. Its noise floor is that of the orders behind it: expected revenue
 * over √(expected orders), the spread of a mean of that many orders' worth.
 */
export function judgeRevenue(
  observedMinor: bigint,
  samplesMinor: readonly bigint[],
  expectedOrders: number,
): Judgement & { expectedMinor: bigint } {
  const expectedMinor = medianMinor(samplesMinor);
  const expected = Number(expectedMinor);
  const samples = samplesMinor.map(Number);
  const floor = Math.max(expected / Math.sqrt(Math.max(expectedOrders, 1)), 1);
  const spread = Math.max(MAD_TO_SD * mad(samples, expected), floor);
  return { expected, expectedMinor, score: round((Number(observedMinor) - expected) / spread) };
}

/**
 * The verdict: a drop when the score is at most −sensitivity and the hour normally has enough
 * volume; a spike when it is at least +sensitivity and the hour itself has enough volume. So a
 * quiet hour (03:00) raises nothing either way.
 */
export function verdictOf(
  judgement: Judgement,
  volume: { expected: number; observed: number; minimum: number },
  sensitivity: number,
  spikesOnly = false,
): SalesAlertKind | null {
  if (!spikesOnly && judgement.score <= -sensitivity && volume.expected >= volume.minimum) return 'SALES_DROP';
  if (judgement.score >= sensitivity && volume.observed >= volume.minimum) return 'SALES_SPIKE';
  return null;
}

/** Scores are shown with two decimals; rounding also keeps a recomputation from changing the last bit. */
function round(value: number): number {
  return Math.round(value * 100) / 100;
}
