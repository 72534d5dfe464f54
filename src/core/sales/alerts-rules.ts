// The pure rules of the sales alerts: which past hours an HOUR window is compared with, what is
// normal for it (the median of those hours), and how unusual it is (a robust score). No
// database and no clock: the processor (alerts.ts) gives the values, these give the verdict.
//
// Method: expected = the median of the comparison hours. Score = a robust z-score on the
// square-root scale: (2√observed − median of 2√samples) / max(1, 1.4826 × MAD of 2√samples),
// the MAD taken over the weeks' and the trailing days' hours together (see judge).
// Square roots make Poisson counting noise about 1 at any volume (Anscombe), so one sensitivity
// fits 03:00 and 14:00 and a drop to zero is as visible as a doubling; the median and MAD ignore
// one odd hour in the history (last week's outage does not make this week look like a spike),
// and the floor of 1 keeps a very regular history from turning counting noise into alerts.
import { IANAZone } from 'luxon';
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

/**
 * `hours`: the hours whose median is what is normal. `spreadHours`: the hours whose scatter says
 * how much an hour varies: the weeks' hours and the trailing days' same hour together, since a
 * scatter measured on three or four hours is itself mostly noise.
 */
export type ComparisonHours = { baseline: SalesAlertBaseline; hours: Date[]; spreadHours: Date[] };

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
  const clock = shopClockOf(calendar);
  const startMs = start.getTime();
  const shifted = (count: number, stepMs: number, wallClock: boolean) => {
    const hours: Date[] = [];
    for (let k = 1; k <= count; k++) {
      const at = wallClock ? clock.sameWallClock(startMs, k * stepMs) : startMs - k * stepMs;
      const hour = clock.hourStart(at);
      if (hour >= firstHour.getTime()) hours.push(new Date(hour));
    }
    return hours;
  };
  const byWeek = shifted(weeks, WEEK_MS, true);
  const byDay = shifted(FALLBACK_DAYS, DAY_MS, true);
  if (byWeek.length >= MIN_SAMPLES) {
    const seen = new Set(byWeek.map((h) => h.getTime()));
    return {
      baseline: 'WEEKS',
      hours: byWeek,
      spreadHours: byWeek.concat(byDay.filter((h) => !seen.has(h.getTime()))),
    };
  }
  if (byDay.length >= MIN_SAMPLES) return { baseline: 'DAYS', hours: byDay, spreadHours: byDay };
  const byHour = shifted(FALLBACK_HOURS, HOUR_MS, false);
  if (byHour.length >= MIN_SAMPLES) return { baseline: 'HOURS', hours: byHour, spreadHours: byHour };
  return null;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const WEEK_MS = 7 * DAY_MS;

/**
 * Wall-clock arithmetic on the shop's clock from UTC offsets (Luxon's zone rules), remembered per
 * instant: an hour is compared with a dozen others, and a batch that closes months of hours
 * (a replay) would spend seconds building a DateTime for each.
 */
type ShopClock = {
  /** The instant whose wall-clock time is `deltaMs` before that of `ms` (a day before 14:00 is 14:00). */
  sameWallClock(ms: number, deltaMs: number): number;
  /** The start of the HOUR window containing `ms`. */
  hourStart(ms: number): number;
};

const clocks = new Map<string, ShopClock>();

function shopClockOf(calendar: ShopCalendar): ShopClock {
  let clock = clocks.get(calendar.zone);
  if (clock) return clock;
  const zone = IANAZone.create(calendar.zone);
  const offsets = new Map<number, number>();
  const offset = (ms: number) => {
    let minutes = offsets.get(ms);
    if (minutes === undefined) {
      if (offsets.size > 200_000) offsets.clear();
      minutes = zone.offset(ms);
      offsets.set(ms, minutes);
    }
    return minutes * 60_000;
  };
  clock = {
    sameWallClock(ms, deltaMs) {
      const wall = ms + offset(ms) - deltaMs;
      let at = wall - offset(ms);
      // The offset then may differ (daylight saving between the two): settle on the one in force.
      at = wall - offset(at);
      return wall - offset(at) === at ? at : wall - offset(at);
    },
    hourStart(ms) {
      // Hours start on the local hour; on a shifted instant that is not one (a skipped or repeated
      // hour), the calendar finds the window that really exists.
      if ((ms + offset(ms)) % HOUR_MS === 0) return ms;
      return calendar.windowOf('HOUR', new Date(ms)).start.getTime();
    },
  };
  clocks.set(calendar.zone, clock);
  return clock;
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

/** What an hour is judged against: the values of the comparison hours and of the spread hours. */
export type History = { samples: readonly number[]; spread: readonly number[] };

/**
 * How unusual `observed` is, on the square-root scale: for Poisson counts 2√x has a standard
 * deviation of about 1 whatever the mean (Anscombe), so one threshold fits a quiet hour and a
 * busy one, and both tails behave. `dispersion`: how many times its mean a value's variance is
 * (1 for orders; more when an order carries several units, or amounts vary). The spread is the
 * larger of 1 (counting noise) and 1.4826 × MAD of the spread hours (a history that varies more),
 * widened by √(1 + π/2n) because the median of n hours is itself an estimate.
 */
function judge(observed: number, history: History, dispersion: number): number {
  const root = (x: number) => 2 * Math.sqrt(Math.max(x, 0) / dispersion);
  const center = median(history.samples.map(root));
  const spreadRoots = history.spread.map(root);
  const scatter = MAD_TO_SD * mad(spreadRoots, median(spreadRoots));
  const spread = Math.max(1, scatter) * Math.sqrt(1 + Math.PI / 2 / history.samples.length);
  return round((root(observed) - center) / spread);
}

/** Units in one product's hour vary more than a count of orders: an order may carry several. */
export const UNITS_DISPERSION = 2;

/** A count (orders, or units with UNITS_DISPERSION) against its history. */
export function judgeCount(observed: number, history: History, dispersion = 1): Judgement {
  return { expected: median(history.samples), score: judge(observed, history, dispersion) };
}

/**
 * Revenue against its history, in units of a typical order's value (expected revenue per
 * expected order, else this hour's): a sum of N orders whose values vary about as much as their
 * mean has a variance of 2N of those units squared, hence a dispersion of 2 on that scale.
 */
export function judgeRevenue(
  observedMinor: bigint,
  history: { samples: readonly bigint[]; spread: readonly bigint[] },
  orders: { expected: number; observed: number },
): Judgement & { expectedMinor: bigint } {
  const expectedMinor = medianMinor(history.samples);
  const expected = Number(expectedMinor);
  const observed = Number(observedMinor);
  const orderValue =
    orders.expected > 0 && expected > 0 ? expected / orders.expected : observed / Math.max(orders.observed, 1);
  const inOrders = (minor: bigint) => (orderValue > 0 ? Number(minor) / orderValue : 0);
  const score = judge(
    orderValue > 0 ? observed / orderValue : 0,
    { samples: history.samples.map(inOrders), spread: history.spread.map(inOrders) },
    2,
  );
  return { expected, expectedMinor, score };
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
