// How fast funnel and topProducts answer at a million events. Not part of the test suite (no
// timing thresholds in tests). Run: npx tsx bench/summaries.ts [events]
// Creates a scratch database on TEST_DATABASE_URL's server (default postgres@127.0.0.1:5432),
// migrates it, loads the events with one set-based INSERT … SELECT FROM generate_series, prints
// EXPLAIN ANALYZE timings and the core functions' wall-clock times, and drops the database.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { readFunnel, readTopProducts } from '../src/core/activity/summaries.js';
import { applyMigrations } from '../src/db/migrate.js';

const EVENTS = Number(process.argv[2] ?? 1_000_000);
const admin = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const name = `shopstream_bench_${randomBytes(4).toString('hex')}`;
const url = new URL(admin);
url.pathname = `/${name}`;

async function withAdmin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  await withAdmin(`CREATE DATABASE ${name}`);
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  try {
    await applyMigrations(pool);
    let started = performance.now();
    // 50,000 users, 5,000 products (skewed towards low ids), 90 days; 70% browse, 15% cart,
    // 5% remove, 10% purchase (USD, a few EUR).
    await pool.query(
      `INSERT INTO activity_events
         (event_id, user_id, type, product_id, quantity, unit_price_minor, currency, order_id, occurred_at)
       SELECT 'e' || i, 'u' || (hashint % 50000), t.type, 'p' || floor(power(random(), 2) * 5000)::int,
              1 + (hashint % 3),
              CASE WHEN t.type = 'PURCHASE' THEN 100 + (hashint % 10000) END,
              CASE WHEN t.type = 'PURCHASE' THEN (CASE WHEN hashint % 10 = 0 THEN 'EUR' ELSE 'USD' END) END,
              CASE WHEN t.type = 'PURCHASE' THEN 'o' || (i / 2) END,
              timestamptz '2026-08-01T00:00:00Z' + (random() * interval '90 days')
         FROM generate_series(1, $1::int) i,
              LATERAL (SELECT abs(hashtext(i::text)) AS hashint) h,
              LATERAL (SELECT CASE WHEN r < 0.70 THEN 'BROWSE' WHEN r < 0.85 THEN 'ADD_TO_CART'
                                   WHEN r < 0.90 THEN 'REMOVE_FROM_CART' ELSE 'PURCHASE' END AS type
                         FROM (SELECT random() + 0 * i AS r) x) t`,
      [EVENTS],
    );
    await pool.query('VACUUM ANALYZE activity_events');
    console.log(`loaded ${EVENTS} events in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    const day = { from: new Date('2026-09-15T00:00:00Z'), to: new Date('2026-09-16T00:00:00Z') };
    const week = { from: new Date('2026-09-15T00:00:00Z'), to: new Date('2026-09-22T00:00:00Z') };
    const all = { from: null, to: null };
    const cases: Array<[string, () => Promise<unknown>]> = [];
    for (const [label, range] of [
      ['1 day', day],
      ['7 days', week],
      ['all 90 days', all],
    ] as const) {
      cases.push([`funnel ${label}`, () => readFunnel(pool, range)]);
      for (const by of ['BROWSES', 'PURCHASES', 'REVENUE'] as const)
        cases.push([
          `topProducts ${by} ${label}`,
          () => readTopProducts(pool, { ...range, by, limit: 10, currency: 'USD' }),
        ]);
    }
    // EXPLAIN ANALYZE of the funnel over everything, the heaviest query, to show the plan.
    const plan = await pool.query(
      `EXPLAIN (ANALYZE, BUFFERS, TIMING OFF)
       SELECT count(*) FROM (SELECT DISTINCT user_id FROM activity_events
        WHERE type = 'BROWSE' AND occurred_at >= '-infinity' AND occurred_at < 'infinity') u`,
    );
    console.log(plan.rows.map((r) => r['QUERY PLAN']).join('\n'));
    const top = await pool.query(
      `EXPLAIN (ANALYZE, BUFFERS, TIMING OFF)
       SELECT product_id, sum(quantity::bigint * unit_price_minor)::text AS value FROM activity_events
        WHERE type = 'PURCHASE' AND occurred_at >= '2026-09-15' AND occurred_at < '2026-09-22' AND currency = 'USD'
        GROUP BY product_id ORDER BY sum(quantity::bigint * unit_price_minor) DESC, product_id LIMIT 10`,
    );
    console.log(top.rows.map((r) => r['QUERY PLAN']).join('\n'));

    console.log('\n| query | median of 5 (ms) |\n| --- | --- |');
    for (const [label, run] of cases) {
      await run(); // warm the cache
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        started = performance.now();
        await run();
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      console.log(`| ${label} | ${(times[2] as number).toFixed(1)} |`);
    }
  } finally {
    await pool.end();
    await withAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

await main();
