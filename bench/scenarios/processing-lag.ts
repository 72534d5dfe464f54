// Processing lag: from the commit of an event (its ack STORED answer) to the moment a subscriber
// receives what the processors derived from it, under an offered load of 1,000 events/s of the
// simulator's mix (activity with purchases, and the warehouse's inventory; ack STORED, 50-event
// batches every 50 ms, open loop; BENCH_LAG_RATE changes the rate) for BENCH_LAG_SECONDS (default 20).
//
// Marked events, one every 100 ms, each in its own mutation: a purchase of 2 units of a product
// of its own whose level was set to 11 (threshold: the default 10) by recordInventory with ack
// PROCESSED before the load, so that it raises LOW_STOCK; its currency (CHF) is one the
// simulator never uses, so the MINUTE window of that currency counts marked units only. One
// graphql-ws subscriber follows stockWarnings and one salesUpdates(size: MINUTE); a marked
// purchase is received when its warning arrives, and when a CHF window update arrives whose units
// include it. The baseline is the marked mutations' own response time (send → commit).
import {
  GqlSocket,
  ingest,
  percentile,
  RECORD_ACTIVITY_STORED,
  RECORD_INVENTORY,
  RECORD_INVENTORY_STORED,
  type Result,
  type Scenario,
  scratchDatabase,
  sleep,
  startServer,
  until,
} from '../lib.js';
import { type Mutation, trafficMix } from './traffic.js';

const SECONDS = Number(process.env.BENCH_LAG_SECONDS ?? 20);
const TICK_MS = 50;
/** Offered events/s of the mix (BENCH_LAG_RATE, default 1,000): one batch every 50 ms. */
const RATE = Number(process.env.BENCH_LAG_RATE ?? 1000);
const BATCH = Math.max(1, Math.round((RATE * TICK_MS) / 1000));
const MARK_EVERY_MS = 100;
const MARKS = Math.floor((SECONDS * 1000) / MARK_EVERY_MS);
const LEVEL = 11;
const BOUGHT = 2;
const CURRENCY = 'CHF';
/** Requests in flight at most; past it the load generator skips a tick (and says so). */
const MAX_IN_FLIGHT = 200;

const STOCK_WARNINGS = `subscription Warnings { stockWarnings { productId kind quantity threshold } }`;
const SALES_UPDATES = `subscription Sales { salesUpdates(size: MINUTE) { currency start units revision } }`;

type Mark = {
  productId: string;
  window: number;
  /** CHF units of its window once it is counted (marks of a window are committed in order). */
  units: number;
  sentAt?: number;
  committedAt?: number;
  warningAt?: number;
  windowAt?: number;
};

export const processingLag: Scenario = {
  name: 'processing-lag',
  title: 'processing lag',
  async run(): Promise<Result[]> {
    const db = await scratchDatabase();
    const server = await startServer(db.url);
    const warningsSocket = new GqlSocket(server.wsUrl);
    const salesSocket = new GqlSocket(server.wsUrl);
    try {
      const runId = `pl-${Date.now().toString(36)}`;
      const mix = trafficMix({ runId, size: BATCH });
      const opening = mix.openingStock();
      for (let i = 0; i < opening.length; i += 500)
        await ingest(server.url, RECORD_INVENTORY, opening.slice(i, i + 500));
      // Mark 0 is the warm-up: it also shows that both subscriptions are live.
      const marks: Mark[] = Array.from({ length: MARKS + 1 }, (_, i) => ({
        productId: `${runId}-mark-${i}`,
        window: 0,
        units: 0,
      }));
      await ingest(
        server.url,
        RECORD_INVENTORY,
        marks.map((m, i) => ({ eventId: `${runId}-level-${i}`, productId: m.productId, quantity: LEVEL })),
      );

      const byProduct = new Map(marks.map((m) => [m.productId, m]));
      const byWindow = new Map<number, Mark[]>();
      let stray = 0;
      await Promise.all([warningsSocket.ready, salesSocket.ready]);
      warningsSocket.subscribe(STOCK_WARNINGS, {}, (data) => {
        const warning = data.stockWarnings as { productId: string; kind: string };
        const mark = byProduct.get(warning.productId);
        if (!mark) return; // the simulator's own products
        if (warning.kind !== 'LOW_STOCK' || mark.warningAt !== undefined) stray++;
        else mark.warningAt = performance.now();
      });
      salesSocket.subscribe(SALES_UPDATES, {}, (data) => {
        const update = data.salesUpdates as { currency: string; start: string; units: number };
        if (update.currency !== CURRENCY) return;
        const at = performance.now();
        for (const mark of byWindow.get(Date.parse(update.start)) ?? []) {
          if (mark.units <= update.units && mark.windowAt === undefined) mark.windowAt = at;
        }
      });

      const windowUnits = new Map<number, number>();
      const sendMark = async (mark: Mark, index: number) => {
        const occurredAt = new Date();
        mark.window = Math.floor(occurredAt.getTime() / 60_000) * 60_000;
        mark.units = (windowUnits.get(mark.window) ?? 0) + BOUGHT;
        windowUnits.set(mark.window, mark.units);
        const list = byWindow.get(mark.window) ?? [];
        list.push(mark);
        byWindow.set(mark.window, list);
        mark.sentAt = performance.now();
        await ingest(server.url, RECORD_ACTIVITY_STORED, [
          {
            eventId: `${runId}-purchase-${index}`,
            userId: `${runId}-shopper`,
            type: 'PURCHASE',
            productId: mark.productId,
            quantity: BOUGHT,
            unitPrice: '10.00',
            currency: CURRENCY,
            orderId: `${runId}-order-${index}`,
            occurredAt: occurredAt.toISOString(),
          },
        ]);
        mark.committedAt = performance.now();
      };
      const warmMark = marks[0] as Mark;
      await sendMark(warmMark, 0);
      await until(
        () => warmMark.warningAt !== undefined && warmMark.windowAt !== undefined,
        30_000,
        'the warm-up mark on both subscriptions',
      );

      // The load: 50 events every 50 ms (and the inventory the mix brings), and a mark every 100 ms.
      const inFlight = new Set<Promise<unknown>>();
      const failures: unknown[] = [];
      const track = (promise: Promise<unknown>) => {
        const tracked = promise
          .catch((error: unknown) => void failures.push(error))
          .finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
      };
      const sendMutation = (m: Mutation) =>
        ingest(server.url, m.stream === 'activity' ? RECORD_ACTIVITY_STORED : RECORD_INVENTORY_STORED, m.events);
      let offered = 0;
      let skipped = 0;
      const started = performance.now();
      const ticks = Math.floor((SECONDS * 1000) / TICK_MS);
      let nextMark = 1;
      for (let tick = 0; tick < ticks; tick++) {
        const due = started + tick * TICK_MS;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        while (nextMark <= MARKS && started + (nextMark - 1) * MARK_EVERY_MS <= performance.now()) {
          track(sendMark(marks[nextMark] as Mark, nextMark));
          nextMark++;
        }
        if (inFlight.size >= MAX_IN_FLIGHT) {
          skipped++;
          continue;
        }
        for (;;) {
          const m = mix.next();
          offered += m.events.length;
          track(sendMutation(m));
          if (m.stream === 'activity') break;
        }
      }
      const loadSeconds = (performance.now() - started) / 1000;
      await Promise.all([...inFlight]);
      if (failures.length > 0) throw failures[0];
      const measured = marks.slice(1, nextMark);
      await until(
        () => measured.every((m) => m.warningAt !== undefined && m.windowAt !== undefined),
        30_000,
        'every marked purchase on both subscriptions',
      ).catch(() => undefined); // what never arrived counts as infinitely late

      const delays = (pick: (m: Mark) => number | undefined) =>
        measured
          .map((m) => {
            const at = pick(m);
            return at === undefined ? Number.POSITIVE_INFINITY : at - (m.committedAt as number);
          })
          .sort((a, b) => a - b);
      const warnings = delays((m) => m.warningAt);
      const windows = delays((m) => m.windowAt);
      const all = [...warnings, ...windows].sort((a, b) => a - b);
      const responses = measured.map((m) => (m.committedAt as number) - (m.sentAt as number)).sort((a, b) => a - b);
      const missing = all.filter((d) => d === Number.POSITIVE_INFINITY).length;
      const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : '∞');
      const notes =
        `${measured.length} marked purchases; stock warning p50 ${ms(percentile(warnings, 50))} p99 ${ms(percentile(warnings, 99))}, ` +
        `sales window p50 ${ms(percentile(windows, 50))} p99 ${ms(percentile(windows, 99))}; ` +
        `${Math.round(offered / loadSeconds).toLocaleString('en-US')} events/s offered for ${loadSeconds.toFixed(1)} s` +
        `${skipped > 0 ? `, ${skipped} ticks skipped (${MAX_IN_FLIGHT} requests in flight)` : ''}` +
        `${missing > 0 ? `, ${missing} receipts never arrived` : ''}${stray > 0 ? `, ${stray} unexpected warnings` : ''}`;
      const p50 = percentile(all, 50);
      const p99 = percentile(all, 99);
      const base50 = percentile(responses, 50);
      const base99 = percentile(responses, 99);
      const figure = `commit → receipt of the derived stock warning / sales window, ${RATE.toLocaleString('en-US')} events/s, ack STORED`;
      return [
        {
          scenario: 'processing lag p50',
          figure,
          value: p50,
          unit: 'ms',
          baselineLabel: 'marked mutation response p50',
          baseline: base50,
          ratio: p50 / base50,
          target: 'p50 ≤ 15 ms',
          met: p50 <= 15,
          notes,
        },
        {
          scenario: 'processing lag p99',
          figure,
          value: p99,
          unit: 'ms',
          baselineLabel: 'marked mutation response p99',
          baseline: base99,
          ratio: p99 / base99,
          target: 'p99 ≤ 100 ms',
          met: p99 <= 100,
        },
      ];
    } finally {
      await Promise.all([warningsSocket.close(), salesSocket.close()]);
      await server.stop();
      await db.drop();
    }
  },
};
