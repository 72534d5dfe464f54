// History at scale: 1,000,000 stored events by default, BENCH_HISTORY_EVENTS=10000000 for the
// target's 10 million (about 10 minutes, most of it loading the rows). p99 of a 50-row userActivity page and of funnel (7 days) over
// GraphQL against the same statements sent raw through pg (the core's own functions); sales(DAY) over 90 days against a raw GROUP BY over the
// events (the summary table must be ≥ 20× faster).
import pg from 'pg';
import { readActivityPage } from '../../src/core/activity/history.js';
import { readFunnel } from '../../src/core/activity/summaries.js';
import { gql, percentile, type Result, type Scenario, scratchDatabase, startServer } from '../lib.js';

const EVENTS = Number(process.env.BENCH_HISTORY_EVENTS ?? 1_000_000);
const USERS = 10_000;

async function p99Of(n: number, run: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(10, n); i++) await run(i); // warm-up
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await run(i);
    times.push(performance.now() - t0);
  }
  return percentile(
    times.sort((a, b) => a - b),
    99,
  );
}

/**
 * p99 of `served` and of `raw`, measured in alternation (served, raw, served, raw, …), so that a
 * noisy moment on this shared machine hits both sides alike instead of whichever ran then.
 */
async function pairedP99(
  n: number,
  served: (i: number) => Promise<unknown>,
  raw: (i: number) => Promise<unknown>,
): Promise<{ served: number; raw: number }> {
  for (let i = 0; i < Math.min(10, n); i++) {
    await served(i);
    await raw(i);
  }
  const times = { served: [] as number[], raw: [] as number[] };
  for (let i = 0; i < n; i++) {
    let t0 = performance.now();
    await served(i);
    times.served.push(performance.now() - t0);
    t0 = performance.now();
    await raw(i);
    times.raw.push(performance.now() - t0);
  }
  const p99 = (values: number[]) =>
    percentile(
      values.sort((a, b) => a - b),
      99,
    );
  return { served: p99(times.served), raw: p99(times.raw) };
}

export const history: Scenario = {
  name: 'history',
  title: 'history',
  async run(): Promise<Result[]> {
    const db = await scratchDatabase(2);
    try {
      await db.pool.query(
        `INSERT INTO activity_events
           (event_id, user_id, type, product_id, quantity, unit_price_minor, currency, order_id, occurred_at)
         SELECT 'e' || i, 'u' || (h % ${USERS}), t.type, 'p' || floor(power(random(), 2) * 5000)::int, 1 + (h % 3),
                CASE WHEN t.type = 'PURCHASE' THEN 100 + (h % 10000) END,
                CASE WHEN t.type = 'PURCHASE' THEN (CASE WHEN h % 10 = 0 THEN 'EUR' ELSE 'USD' END) END,
                CASE WHEN t.type = 'PURCHASE' THEN 'o' || (i / 2) END,
                timestamptz '2026-08-01T00:00:00Z' + (random() * interval '90 days')
           FROM generate_series(1, $1::int) i,
                LATERAL (SELECT abs(hashtext(i::text)) AS h) x,
                LATERAL (SELECT CASE WHEN r < 0.70 THEN 'BROWSE' WHEN r < 0.85 THEN 'ADD_TO_CART'
                                     WHEN r < 0.90 THEN 'REMOVE_FROM_CART' ELSE 'PURCHASE' END AS type
                           FROM (SELECT random() + 0 * i AS r) y) t`,
        [EVENTS],
      );
      // The DAY windows as the sales processor would have left them.
      await db.pool.query(
        `INSERT INTO sales_windows (size, window_start, currency, revenue_minor, orders, units)
         SELECT 'DAY', date_trunc('day', occurred_at, 'UTC'), currency, sum(quantity::bigint * unit_price_minor),
                count(DISTINCT order_id), sum(quantity)
           FROM activity_events WHERE type = 'PURCHASE' GROUP BY 2, 3`,
      );
      await db.pool.query('VACUUM ANALYZE activity_events');
      await db.pool.query('VACUUM ANALYZE sales_windows');
    } catch (error) {
      await db.drop();
      throw error;
    }
    const server = await startServer(db.url);
    const raw = new pg.Client({ connectionString: db.url });
    await raw.connect();
    try {
      const user = (i: number) => `u${(i * 7919) % USERS}`;
      const pageQuery = `query Page($userId: ID) { userActivity(userId: $userId, first: 50) {
        edges { cursor node { eventId userId type productId quantity unitPrice currency orderId occurredAt } }
        pageInfo { hasNextPage endCursor } } }`;
      // Raw: the very statement the server sends (the core's function), through pg, no GraphQL or HTTP.
      const { served: page, raw: rawPage } = await pairedP99(
        500,
        (i) => gql(server.url, pageQuery, { userId: user(i) }),
        (i) => readActivityPage(raw, { userId: user(i) }, { first: 50 }),
      );

      const from = '2026-09-15T00:00:00Z';
      const to = '2026-09-22T00:00:00Z';
      const funnelQuery =
        'query F($from: DateTime, $to: DateTime) { funnel(from: $from, to: $to) { browsers carters purchasers conversionRate } }';
      const { served: funnel, raw: rawFunnel } = await pairedP99(
        100,
        () => gql(server.url, funnelQuery, { from, to }),
        () => readFunnel(raw, { from: new Date(from), to: new Date(to) }),
      );

      const salesQuery = `query S($from: DateTime!, $to: DateTime!) { sales(size: DAY, from: $from, to: $to) {
        start currency revenue orders units } }`;
      const all = { from: '2026-08-01T00:00:00Z', to: '2026-10-30T00:00:00Z' };
      const sales = await p99Of(100, () => gql(server.url, salesQuery, all));
      const rawGroupBy = await p99Of(10, () =>
        raw.query(
          `SELECT date_trunc('day', occurred_at, 'UTC') AS day, currency, sum(quantity::bigint * unit_price_minor),
                  count(DISTINCT order_id), sum(quantity)
             FROM activity_events WHERE type = 'PURCHASE' AND occurred_at >= $1 AND occurred_at < $2 GROUP BY 1, 2`,
          [all.from, all.to],
        ),
      );
      const label = `${(EVENTS / 1e6).toFixed(0)}M events`;
      return [
        {
          scenario: 'history: userActivity page',
          figure: `p99 of a 50-row page, ${label}`,
          value: page,
          unit: 'ms',
          baselineLabel: 'the same SQL raw, p99 ms',
          baseline: rawPage,
          ratio: page / rawPage,
          target: '≤ raw + 2 ms',
          met: page <= rawPage + 2,
        },
        {
          scenario: 'history: funnel (7 days)',
          figure: `p99, ${label}`,
          value: funnel,
          unit: 'ms',
          baselineLabel: 'the same SQL raw, p99 ms',
          baseline: rawFunnel,
          ratio: funnel / rawFunnel,
          target: '≤ raw + 2 ms',
          met: funnel <= rawFunnel + 2,
        },
        {
          scenario: 'history: sales(DAY), 90 days',
          figure: `p99, ${label}`,
          value: sales,
          unit: 'ms',
          baselineLabel: 'raw GROUP BY over events, p99 ms',
          baseline: rawGroupBy,
          ratio: rawGroupBy / sales,
          target: '≥ 20× faster than raw GROUP BY',
          met: rawGroupBy / sales >= 20,
          notes: 'ratio here = raw GROUP BY time / sales time (higher is better)',
        },
      ];
    } finally {
      await raw.end();
      await server.stop();
      await db.drop();
    }
  },
};
