// `npm run eval:recs`: measures recommendation quality on a synthetic shop with planted structure.
// Products come in bundles bought together, shoppers have tastes (categories), and some noise
// follows a global popularity curve. Every shopper's last purchase is held out, with everything
// the shopper did from then on and everything they ever did with that product, so the method
// never sees it; the rest is replayed in event-time order through the processing core (the same
// ingest path as the API). Then hit-rate@5: how often the held-out product is among the shopper's
// top 5, for our lists and for a popularity-only baseline (the same popular products, minus what
// the shopper bought). Seeded: the same numbers every run.
//
// Database: a scratch database created beside DATABASE_URL (and dropped after), or without it an
// embedded PostgreSQL in a temporary directory.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { loadConfig } from '../config.js';
import type { ActivityEventInput } from '../core/activity/types.js';
import { createCore } from '../core/core.js';
import { readPopular } from '../core/recommendations/popularity.js';
import { rankRecommendations } from '../core/recommendations/rank.js';
import { createDb } from '../db/client.js';
import { applyMigrations } from '../db/migrate.js';
import { createInProcessFanout } from '../feed/fanout.js';
import { createFeed } from '../feed/follow.js';
import { runCli } from './help.js';

const SEED = 20261125;
const CATEGORIES = 12;
const PRODUCTS_PER_CATEGORY = 20;
const BUNDLES_PER_CATEGORY = 5;
const BUNDLE_SIZE = 3;
const SHOPPERS = 400;
const BATCH = 250;
const K = 5;
/** The synthetic "now": every event lies in the 20 hours before it (inside the popularity window). */
const NOW = new Date('2026-11-25T12:00:00Z');

type Event = ActivityEventInput & { occurredAt: Date; type: 'BROWSE' | 'ADD_TO_CART' | 'PURCHASE' };

/** mulberry32: small, fast, and the same sequence everywhere for one seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick<T>(items: readonly T[]): T {
      return items[Math.floor(next() * items.length)] as T;
    },
    shuffle<T>(items: readonly T[]): T[] {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j] as T, out[i] as T];
      }
      return out;
    },
  };
}

function buildShop() {
  const random = rng(SEED);
  const product = (c: number, i: number) => `p${String(c * PRODUCTS_PER_CATEGORY + i).padStart(3, '0')}`;
  const categories = Array.from({ length: CATEGORIES }, (_, c) =>
    Array.from({ length: PRODUCTS_PER_CATEGORY }, (_, i) => product(c, i)),
  );
  // The first BUNDLES × SIZE products of each category form its bundles; the rest are loose.
  const bundles = categories.map((products) =>
    Array.from({ length: BUNDLES_PER_CATEGORY }, (_, b) => products.slice(b * BUNDLE_SIZE, (b + 1) * BUNDLE_SIZE)),
  );
  // Global popularity (Zipf over a shuffled catalogue): what noise browsing and impulse buys follow.
  const catalogue = random.shuffle(categories.flat());
  const zipf = catalogue.map((_, rank) => 1 / (rank + 1));
  const total = zipf.reduce((a, b) => a + b, 0);
  const popularPick = () => {
    let x = random.next() * total;
    for (let i = 0; i < catalogue.length; i++) {
      x -= zipf[i] as number;
      if (x <= 0) return catalogue[i] as string;
    }
    return catalogue.at(-1) as string;
  };

  const events: Event[] = [];
  let n = 0;
  const start = NOW.getTime() - 20 * 3_600_000;
  for (let s = 0; s < SHOPPERS; s++) {
    const userId = `u${String(s).padStart(3, '0')}`;
    const tastes = random.next() < 0.5 ? [random.int(CATEGORIES)] : [random.int(CATEGORIES), random.int(CATEGORIES)];
    const bought = new Set<string>();
    const sessions = 3 + random.int(3);
    let t = start + random.int(4 * 3_600_000);
    const emit = (type: Event['type'], productId: string) => {
      t += 30_000 + random.int(240_000); // 0.5 to 4.5 minutes between actions
      events.push({
        eventId: `e${++n}`,
        userId,
        type,
        productId,
        occurredAt: new Date(t),
        ...(type === 'PURCHASE' ? { unitPrice: '10.00' } : {}),
      });
    };
    const buy = (productId: string) => {
      if (bought.has(productId)) return;
      if (random.next() < 0.7) emit('ADD_TO_CART', productId);
      emit('PURCHASE', productId);
      bought.add(productId);
    };
    for (let session = 0; session < sessions; session++) {
      const category = random.pick(tastes);
      const bundle = random.pick(bundles[category] as string[][]);
      // Look around: the bundle, other products of the category, and what is popular.
      for (const productId of random.shuffle([
        ...bundle.slice(0, 1 + random.int(BUNDLE_SIZE)),
        random.pick(categories[category] as string[]),
        popularPick(),
      ]))
        emit('BROWSE', productId);
      if (random.next() < 0.3) buy(popularPick()); // an impulse buy
      // One to all of the bundle: a lone item must be guessed from earlier visits (tastes), not from its mates.
      for (const productId of random.shuffle(bundle).slice(0, 1 + random.int(BUNDLE_SIZE))) buy(productId);
      t += 2 * 3_600_000 + random.int(2 * 3_600_000); // the next visit, hours later
    }
  }
  return { events, products: catalogue.length };
}

/** Each shopper's last purchase is the test; the method sees neither it nor what came after. */
function holdOut(events: readonly Event[]) {
  const byUser = new Map<string, Event[]>();
  for (const event of events) {
    const list = byUser.get(event.userId) ?? [];
    list.push(event);
    byUser.set(event.userId, list);
  }
  const train: Event[] = [];
  const tests = new Map<string, string>();
  for (const [userId, mine] of byUser) {
    const last = mine.filter((e) => e.type === 'PURCHASE').at(-1);
    if (!last) {
      train.push(...mine);
      continue;
    }
    tests.set(userId, last.productId);
    train.push(...mine.filter((e) => e.occurredAt < last.occurredAt && e.productId !== last.productId));
  }
  train.sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime());
  return { train, tests };
}

async function scratchDatabase(): Promise<{ env: Record<string, string>; drop(): Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shopstream-eval-'));
    return { env: { DATA_DIR: dir }, drop: () => fs.rm(dir, { recursive: true, force: true }) };
  }
  const name = `shopstream_eval_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: url, application_name: 'shopstream-eval' });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const scratch = new URL(url);
  scratch.pathname = `/${name}`;
  return {
    env: { DATABASE_URL: scratch.toString() },
    drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function main(): Promise<number> {
  const started = Date.now();
  const { events, products } = buildShop();
  const { train, tests } = holdOut(events);
  const scratch = await scratchDatabase();
  const { DATABASE_URL: _, DATA_DIR: __, ...env } = process.env;
  const config = loadConfig({ ...env, ...scratch.env, LOG_LEVEL: 'silent', MAX_BATCH_SIZE: String(BATCH) });
  const log = pino({ level: 'silent' });
  const db = await createDb(config, log);
  try {
    await applyMigrations(db.pool, { log });
    const fanout = createInProcessFanout();
    const feed = createFeed({ db: db.pool, fanout, log, ...config.feed });
    const core = createCore({ db, feed, fanout, clock: { now: () => NOW }, config });
    for (let i = 0; i < train.length; i += BATCH) {
      const report = await core.ingestActivity(train.slice(i, i + BATCH), 'STORED');
      if (report.errors.length > 0) throw new Error(`replay rejected events: ${JSON.stringify(report.errors[0])}`);
    }
    // The processors follow the log in large batches; wait until they have applied all of it.
    await core.settle();

    // The baseline: the same popular products, minus what the shopper bought.
    const popular = await readPopular(db.pool, NOW, config.recommendations.popularWindowHours, 100);
    let ours = 0;
    let baseline = 0;
    for (const [userId, heldOut] of tests) {
      const list = await core.recommendations(userId, K);
      if (list.items.some((item) => item.productId === heldOut)) ours++;
      const { rows } = await db.pool.query(
        'SELECT product_id FROM user_product_signals WHERE user_id = $1 AND purchased',
        [userId],
      );
      const owned = new Set(rows.map((row) => row.product_id as string));
      const top = rankRecommendations({ related: [], popular, owned, size: K });
      if (top.some((item) => item.productId === heldOut)) baseline++;
    }
    await feed.close();
    await fanout.close();
    const rate = (hits: number) => `${((100 * hits) / tests.size).toFixed(1)}% (${hits}/${tests.size})`;
    console.log(
      `synthetic shop: ${products} products in ${CATEGORIES} categories, bundles of ${BUNDLE_SIZE}, ` +
        `${SHOPPERS} shoppers, ${events.length} events (${train.length} replayed, ${tests.size} held out), seed ${SEED}`,
    );
    console.log(`hit-rate@${K}  recommendations:   ${rate(ours)}`);
    console.log(`hit-rate@${K}  popularity only:   ${rate(baseline)}`);
    console.log(`took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  } finally {
    await db.close();
    await scratch.drop();
  }
}

const HELP = `
Usage: npm run eval:recs

Measures recommendation quality on a seeded synthetic shop: every shopper's last purchase is
held out, the rest is replayed through the processing core, and hit-rate@${K} of our lists is
printed beside a popularity-only baseline. Uses a scratch database beside DATABASE_URL (dropped
after) or, when it is unset, an embedded database in a temporary directory.

Options:
  -h, --help   show this help
`;
runCli({ name: 'eval:recs', help: HELP, main, stack: true });
