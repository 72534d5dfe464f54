// A shop that drives a running server through its public mutations, and the load generator the
// benchmarks reuse: `npm run simulate -- --rate 200 --duration 60`.
//
// The traffic model (createShop) is pure and seeded: shoppers with tastes (favourite categories,
// a currency) browse, cart, sometimes remove, and buy in sessions; popular products are chosen
// more often; a warehouse restocks what runs low; a few events arrive late (an older sales window
// is corrected) and a few are sent twice (reported as duplicates, counted once); a few order lines
// are refunded a little later, most of them returned to stock (recordRefunds). runSimulation
// paces it at a target rate, bounded in time and in requests in flight, and talks to the one URL
// it is given.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { printHelpIfAsked } from './help.js';

export type ActivityType = 'BROWSE' | 'ADD_TO_CART' | 'REMOVE_FROM_CART' | 'PURCHASE';

export type ActivityInput = {
  eventId: string;
  userId: string;
  type: ActivityType;
  productId: string;
  quantity?: number;
  unitPrice?: string;
  currency?: string;
  orderId?: string;
  occurredAt?: string;
};

export type InventoryInput = { eventId: string; productId: string; quantity?: number; delta?: number };

/** A catalogue entry, as recordProducts takes it. */
export type ProductInput = {
  eventId: string;
  productId: string;
  name: string;
  category: string;
  listPrice?: string;
  currency?: string;
};

/** A refund of an order line, as recordRefunds takes it. */
export type RefundInput = {
  eventId: string;
  orderId: string;
  productId: string;
  quantity: number;
  amount: string;
  currency: string;
  restock: boolean;
};

export type ShopOptions = {
  shoppers: number;
  products: number;
  /** Same seed, same traffic (event ids aside, which carry `runId`). */
  seed?: number;
  /** Prefix of every eventId; differs per run so that runs never collide. */
  runId?: string;
  /** Share of activity events sent with an occurredAt 1 to 10 minutes in the past. */
  lateShare?: number;
  /** Share of events sent a second time in a later batch. */
  duplicateShare?: number;
  /** Share of purchases sent without a price (rejected: MISSING_PRICE), to exercise dead letters. */
  invalidShare?: number;
  /** Stock a restock brings; a product is restocked when it falls to `restockBelow`. */
  restockQuantity?: number;
  restockBelow?: number;
  /** Share of order lines refunded some ticks after their purchase (default 0: none). */
  refundShare?: number;
  now?: () => number;
};

/** One batch of traffic: what to send through recordActivity, recordInventory and recordRefunds. */
export type Traffic = {
  activity: ActivityInput[];
  inventory: InventoryInput[];
  refunds: RefundInput[];
  late: number;
  duplicates: number;
};

type Product = { id: string; category: number; minorPrice: number; stock: number; restockDue: number | null };
type Shopper = { id: string; favourites: number[]; currency: Currency };
type Currency = { code: string; digits: number; perUsd: number };
type Session = { shopper: Shopper; steps: number; cart: Map<string, number> };

const CATEGORIES = 8;
/** The catalogue's names of the categories and products (the same in every run, whatever the seed). */
const CATEGORY_NAMES = ['Kitchen', 'Books', 'Garden', 'Toys', 'Apparel', 'Electronics', 'Beauty', 'Sports'];
const PRODUCT_NOUNS = [
  ['Mug', 'Kettle', 'Pan', 'Knife'],
  ['Novel', 'Cookbook', 'Atlas', 'Notebook'],
  ['Trowel', 'Planter', 'Hose', 'Seed Kit'],
  ['Puzzle', 'Robot', 'Kite', 'Board Game'],
  ['T-Shirt', 'Hoodie', 'Scarf', 'Sneakers'],
  ['Headphones', 'Charger', 'Speaker', 'Keyboard'],
  ['Soap', 'Lip Balm', 'Face Cream', 'Shampoo'],
  ['Yoga Mat', 'Water Bottle', 'Football', 'Racket'],
];
const ADJECTIVES = ['Classic', 'Blue', 'Compact', 'Deluxe', 'Eco', 'Golden', 'Mini', 'Pro', 'Rustic', 'Smart'];

/** Product `index` (0-based) of `category`'s name: distinct for the first 40 of each category. */
function productName(category: number, index: number): string {
  const nouns = PRODUCT_NOUNS[category] as string[];
  const name = `${ADJECTIVES[index % ADJECTIVES.length]} ${nouns[Math.floor(index / ADJECTIVES.length) % nouns.length]}`;
  const round = Math.floor(index / (ADJECTIVES.length * nouns.length));
  return round === 0 ? name : `${name} ${round + 1}`;
}
const CURRENCIES: Array<Currency & { share: number }> = [
  { code: 'USD', digits: 2, perUsd: 1, share: 0.7 },
  { code: 'EUR', digits: 2, perUsd: 0.92, share: 0.18 },
  { code: 'GBP', digits: 2, perUsd: 0.79, share: 0.08 },
  { code: 'JPY', digits: 0, perUsd: 150, share: 0.04 },
];

export function createShop(options: ShopOptions) {
  const random = mulberry32(options.seed ?? Date.now());
  const now = options.now ?? Date.now;
  const runId = options.runId ?? `sim-${Date.now().toString(36)}`;
  const lateShare = options.lateShare ?? 0.02;
  const duplicateShare = options.duplicateShare ?? 0.01;
  const invalidShare = options.invalidShare ?? 0;
  const restockQuantity = options.restockQuantity ?? 40;
  const restockBelow = options.restockBelow ?? 4;
  const refundShare = options.refundShare ?? 0;
  // Refunds draw from their own generator: the rest of the traffic of a seed stays as it was.
  const refundRandom = mulberry32((options.seed ?? Date.now()) ^ 0x5eed);
  /** Refunds waiting for their tick: a few seconds after the purchase, which is stored by then. */
  const refundsDue: Array<{ tick: number; refund: RefundInput }> = [];
  let sequence = 0;
  let orders = 0;
  const nextId = (kind: string) => `${runId}-${kind}-${++sequence}`;

  const products: Product[] = Array.from({ length: options.products }, (_, i) => ({
    id: `p-${i + 1}`,
    category: i % CATEGORIES,
    // Prices from 1.99 to about 200 USD, most of them cheap.
    minorPrice: Math.round((1.99 + 198 * random() ** 3) * 100),
    stock: 15 + Math.floor(random() * 45),
    restockDue: null,
  }));
  const productById = new Map(products.map((p) => [p.id, p]));
  const byCategory = Array.from({ length: CATEGORIES }, (_, c) => products.filter((p) => p.category === c));
  const shoppers: Shopper[] = Array.from({ length: options.shoppers }, (_, i) => ({
    id: `u-${i + 1}`,
    favourites: [Math.floor(random() * CATEGORIES), Math.floor(random() * CATEGORIES)],
    currency: pickWeighted(CURRENCIES, random),
  }));
  const sessions: Session[] = [];
  const resend: Array<{ stream: 'activity'; event: ActivityInput } | { stream: 'inventory'; event: InventoryInput }> =
    [];

  /** Popular products first: Zipf-like, within the shopper's taste most of the time. */
  const pickProduct = (shopper: Shopper): Product => {
    const pool = random() < 0.8 ? (byCategory[pick(shopper.favourites, random)] as Product[]) : (products as Product[]);
    const index = Math.min(pool.length - 1, Math.floor(pool.length * random() ** 2.5));
    return pool[index] as Product;
  };

  const minorPriceIn = (product: Product, currency: Currency): number =>
    Math.max(1, Math.round((product.minorPrice / 100) * currency.perUsd * 10 ** currency.digits));
  const priceIn = (product: Product, currency: Currency): string =>
    formatMinor(minorPriceIn(product, currency), currency.digits);

  /** Most refunds return the whole line to stock; the others give half the price of one unit back (damaged, kept). */
  const refundOf = (orderId: string, product: Product, quantity: number, currency: Currency): RefundInput => {
    const unit = minorPriceIn(product, currency);
    const returned = refundRandom() < 0.7;
    return {
      eventId: nextId('r'),
      orderId,
      productId: product.id,
      quantity: returned ? quantity : 1,
      amount: formatMinor(returned ? unit * quantity : Math.max(1, Math.floor(unit / 2)), currency.digits),
      currency: currency.code,
      restock: returned,
    };
  };

  /** The next step of some session: a new session starts when few are open. */
  const step = (out: ActivityInput[]): void => {
    if (sessions.length < Math.max(1, Math.ceil(options.shoppers / 20)) || random() < 0.05) {
      sessions.push({ shopper: pick(shoppers, random), steps: 3 + Math.floor(random() * 12), cart: new Map() });
    }
    const index = Math.floor(random() * sessions.length);
    const session = sessions[index] as Session;
    const { shopper, cart } = session;
    const base = { userId: shopper.id };
    session.steps--;
    const roll = random();
    if (session.steps <= 0) {
      sessions.splice(index, 1);
      // The session ends at checkout for some; the others leave their cart.
      if (cart.size > 0 && random() < 0.55) {
        const orderId = `${runId}-order-${++orders}`;
        for (const [productId, quantity] of cart) {
          const product = productById.get(productId) as Product;
          product.stock -= quantity;
          const invalid = random() < invalidShare;
          out.push({
            ...base,
            eventId: nextId('a'),
            type: 'PURCHASE',
            productId,
            quantity,
            ...(invalid ? {} : { unitPrice: priceIn(product, shopper.currency) }),
            currency: shopper.currency.code,
            orderId,
          });
          if (!invalid && refundShare > 0 && refundRandom() < refundShare) {
            refundsDue.push({
              tick: tick + 20 + Math.floor(refundRandom() * 40),
              refund: refundOf(orderId, product, quantity, shopper.currency),
            });
          }
        }
      }
      return;
    }
    if (cart.size > 0 && roll < 0.06) {
      const productId = pick([...cart.keys()], random);
      cart.delete(productId);
      out.push({ ...base, eventId: nextId('a'), type: 'REMOVE_FROM_CART', productId });
      return;
    }
    const product = pickProduct(shopper);
    if (roll < 0.3 && product.stock > 0) {
      const quantity = random() < 0.8 ? 1 : 2 + Math.floor(random() * 2);
      cart.set(product.id, (cart.get(product.id) ?? 0) + quantity);
      out.push({ ...base, eventId: nextId('a'), type: 'ADD_TO_CART', productId: product.id, quantity });
      return;
    }
    out.push({ ...base, eventId: nextId('a'), type: 'BROWSE', productId: product.id });
  };

  /** The warehouse: a product at or below `restockBelow` is restocked a little later. */
  const warehouse = (out: InventoryInput[], tick: number): void => {
    for (const product of products) {
      if (product.restockDue === null && product.stock <= restockBelow) {
        product.restockDue = tick + 5 + Math.floor(random() * 30);
      } else if (product.restockDue !== null && tick >= product.restockDue) {
        product.restockDue = null;
        product.stock += restockQuantity;
        out.push({ eventId: nextId('i'), productId: product.id, delta: restockQuantity });
      }
    }
  };

  let tick = 0;
  return {
    runId,
    products: products as readonly Product[],
    shoppers: shoppers as readonly Shopper[],
    /** A catalogue entry for every product (name, category, list price in USD): send them first. */
    catalogue(): ProductInput[] {
      return products.map((p, i) => ({
        eventId: nextId('c'),
        productId: p.id,
        name: productName(p.category, Math.floor(i / CATEGORIES)),
        category: CATEGORY_NAMES[p.category] as string,
        listPrice: formatMinor(p.minorPrice, 2),
        currency: 'USD',
      }));
    },
    /** Absolute stock levels of every product: send them first. */
    openingStock(): InventoryInput[] {
      return products.map((p) => ({ eventId: nextId('i'), productId: p.id, quantity: p.stock }));
    },
    /** About `count` events of traffic (inventory events come on top, when due). */
    next(count: number): Traffic {
      tick++;
      const activity: ActivityInput[] = [];
      const inventory: InventoryInput[] = [];
      let duplicates = 0;
      // Events chosen for a second sending go out in a later batch (a retrying integration).
      for (const again of resend.splice(0, Math.max(1, Math.ceil(count * duplicateShare)))) {
        if (again.stream === 'activity') activity.push(again.event);
        else inventory.push(again.event);
        duplicates++;
      }
      const fresh: ActivityInput[] = [];
      while (activity.length + fresh.length < count) step(fresh);
      const restocks: InventoryInput[] = [];
      warehouse(restocks, tick);
      let late = 0;
      const at = now();
      for (const event of fresh) {
        if (random() >= lateShare) continue;
        event.occurredAt = new Date(at - 60_000 - Math.floor(random() * 540_000)).toISOString();
        late++;
      }
      for (const event of fresh) {
        if (random() < duplicateShare && resend.length < 10_000) resend.push({ stream: 'activity', event });
      }
      for (const event of restocks) {
        if (random() < duplicateShare && resend.length < 10_000) resend.push({ stream: 'inventory', event });
      }
      activity.push(...fresh);
      inventory.push(...restocks);
      const refunds: RefundInput[] = [];
      for (let i = refundsDue.length - 1; i >= 0; i--) {
        const { tick: due, refund } = refundsDue[i] as { tick: number; refund: RefundInput };
        if (due > tick) continue;
        refundsDue.splice(i, 1);
        if (refund.restock) (productById.get(refund.productId) as Product).stock += refund.quantity;
        refunds.push(refund);
      }
      return { activity, inventory, refunds, late, duplicates };
    },
  };
}

export type Shop = ReturnType<typeof createShop>;

export type SimulationOptions = {
  /** The GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql; nothing else is contacted. */
  url: string;
  /** API key or JWT, sent as `Authorization: Bearer …`. */
  key?: string;
  /** Target events per second (activity and inventory together). */
  rate: number;
  /** Seconds to run; Infinity runs until `signal` aborts. */
  durationSeconds: number;
  shoppers: number;
  products: number;
  seed?: number;
  /** Requests in flight at most; past it the simulator falls behind rather than queueing. */
  concurrency?: number;
  /** Most events per mutation. */
  batchSize?: number;
  signal?: AbortSignal;
  /** Called about once a second. */
  onProgress?: (progress: SimulationProgress) => void;
  shop?: Partial<ShopOptions>;
};

export type SimulationProgress = {
  elapsedSeconds: number;
  sent: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** Requests that failed as a whole (network, GraphQL error) after their retries. */
  failedRequests: number;
  late: number;
  /** Events per second over the last interval. */
  rate: number;
};

export type SimulationSummary = SimulationProgress & {
  /** Duplicates the shop injected (a server reports them as duplicates, plus any retried batch). */
  injectedDuplicates: number;
  requests: number;
  /** Request latency in milliseconds. */
  latency: { p50: number; p95: number; max: number };
  /** Revenue of the purchases the server accepted, per currency (decimal strings). */
  revenue: Record<string, string>;
  /** Money given back by the refunds the server accepted, per currency (decimal strings). */
  refunded: Record<string, string>;
  orders: number;
  problems: string[];
};

const RECORD_ACTIVITY = `mutation Simulate($events: [ActivityEventInput!]!) {
  recordActivity(events: $events) { accepted duplicates errors { index code message } }
}`;
const RECORD_INVENTORY = `mutation SimulateInventory($events: [InventoryEventInput!]!) {
  recordInventory(events: $events) { accepted duplicates errors { index code message } }
}`;
const RECORD_PRODUCTS = `mutation SimulateCatalogue($events: [ProductEventInput!]!) {
  recordProducts(events: $events) { accepted duplicates errors { index code message } }
}`;
const RECORD_REFUNDS = `mutation SimulateRefunds($events: [RefundEventInput!]!) {
  recordRefunds(events: $events) { accepted duplicates errors { index code message } }
}`;
const MUTATIONS = {
  activity: RECORD_ACTIVITY,
  inventory: RECORD_INVENTORY,
  catalogue: RECORD_PRODUCTS,
  refunds: RECORD_REFUNDS,
};

type Report = { accepted: number; duplicates: number; errors: Array<{ index: number; code: string; message: string }> };

/** A request refused for a reason a retry cannot fix (credential, malformed request). */
class Refused extends Error {}

export async function runSimulation(options: SimulationOptions): Promise<SimulationSummary> {
  const shop = createShop({
    shoppers: options.shoppers,
    products: options.products,
    seed: options.seed,
    refundShare: 0.05,
    ...options.shop,
  });
  const concurrency = options.concurrency ?? 4;
  const batchSize = options.batchSize ?? 500;
  const tickMs = 100;
  const totals: SimulationProgress = {
    elapsedSeconds: 0,
    sent: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    failedRequests: 0,
    late: 0,
    rate: 0,
  };
  let injectedDuplicates = 0;
  let requests = 0;
  const latencies: number[] = [];
  const revenueMinor = new Map<string, { minor: bigint; digits: number }>();
  const refundedMinor = new Map<string, { minor: bigint; digits: number }>();
  const orderIds = new Set<string>();
  const problems = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  let refused: Refused | null = null;

  const post = async (query: string, events: unknown[]): Promise<Report> => {
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      try {
        const response = await fetch(options.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/graphql-response+json',
            ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
          },
          body: JSON.stringify({ query, variables: { events } }),
        });
        requests++;
        latencies.push(performance.now() - started);
        if (latencies.length > 100_000) latencies.splice(0, 50_000);
        const body = (await response.json()) as {
          data?: Record<string, Report>;
          errors?: Array<{ message: string; extensions?: { code?: string; retryAfterSeconds?: number } }>;
        };
        const report = body.data ? Object.values(body.data)[0] : undefined;
        if (report) return report;
        const error = body.errors?.[0];
        const code = error?.extensions?.code ?? `HTTP_${response.status}`;
        if (['UNAUTHENTICATED', 'FORBIDDEN', 'BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED'].includes(code)) {
          throw new Refused(`${code}: ${error?.message ?? response.statusText}`);
        }
        problems.add(`${code}: ${error?.message ?? response.statusText}`);
        // Safe to send again: every event keeps its eventId, so a retry never counts twice.
        if (attempt >= 3) throw new Error(code);
        await sleep(Math.max(100, (error?.extensions?.retryAfterSeconds ?? 0) * 1000) * 2 ** attempt, options.signal);
      } catch (error) {
        if (error instanceof Refused) throw error;
        if (attempt >= 3 || options.signal?.aborted) throw error;
        problems.add(`request failed: ${(error as Error).message}`);
        await sleep(200 * 2 ** attempt, options.signal);
      }
    }
  };

  const send = (
    stream: keyof typeof MUTATIONS,
    events: Array<ActivityInput | InventoryInput | ProductInput | RefundInput>,
  ) => {
    if (events.length === 0) return;
    totals.sent += events.length;
    const request = post(MUTATIONS[stream], events)
      .then((report) => {
        totals.accepted += report.accepted;
        totals.duplicates += report.duplicates;
        totals.rejected += report.errors.length;
        for (const error of report.errors) problems.add(`rejected ${error.code}: ${error.message}`);
        if (stream === 'activity') countRevenue(events as ActivityInput[], report);
        if (stream === 'refunds') countRefunds(events as RefundInput[], report);
      })
      .catch((error: unknown) => {
        totals.failedRequests++;
        if (error instanceof Refused) refused ??= error;
      })
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
  };

  // Revenue the server took: purchases of accepted, first-time events (a duplicate adds nothing).
  const seenPurchases = new Set<string>();
  const countRevenue = (events: ActivityInput[], report: Report) => {
    const rejected = new Set(report.errors.map((e) => e.index));
    events.forEach((event, index) => {
      if (event.type !== 'PURCHASE' || !event.unitPrice || rejected.has(index) || seenPurchases.has(event.eventId))
        return;
      seenPurchases.add(event.eventId);
      if (seenPurchases.size > 1_000_000) seenPurchases.clear();
      const currency = event.currency ?? 'USD';
      const digits = (event.unitPrice.split('.')[1] ?? '').length;
      const sum = revenueMinor.get(currency) ?? { minor: 0n, digits };
      sum.minor += BigInt(event.unitPrice.replace('.', '')) * BigInt(event.quantity ?? 1);
      revenueMinor.set(currency, sum);
      if (event.orderId) orderIds.add(event.orderId);
    });
  };

  const countRefunds = (events: RefundInput[], report: Report) => {
    const rejected = new Set(report.errors.map((e) => e.index));
    events.forEach((event, index) => {
      if (rejected.has(index)) return;
      const digits = (event.amount.split('.')[1] ?? '').length;
      const sum = refundedMinor.get(event.currency) ?? { minor: 0n, digits };
      sum.minor += BigInt(event.amount.replace('.', ''));
      refundedMinor.set(event.currency, sum);
    });
  };

  const started = performance.now();
  const deadline = started + options.durationSeconds * 1000;
  let due = 0;
  let lastReport = started;
  let sentAtLastReport = 0;
  // The catalogue first, so that names show from the first event on.
  const entries = shop.catalogue();
  for (let i = 0; i < entries.length; i += batchSize) send('catalogue', entries.slice(i, i + batchSize));
  const opening = shop.openingStock();
  for (let i = 0; i < opening.length; i += batchSize) send('inventory', opening.slice(i, i + batchSize));
  await Promise.all(inFlight);

  while (!options.signal?.aborted && !refused && performance.now() < deadline) {
    await sleep(tickMs, options.signal);
    const now = performance.now();
    due = Math.min(due + (options.rate * tickMs) / 1000, options.rate); // at most a second's worth behind
    const count = Math.min(Math.floor(due), batchSize);
    if (count > 0 && inFlight.size < concurrency) {
      due -= count;
      const traffic = shop.next(count);
      injectedDuplicates += traffic.duplicates;
      totals.late += traffic.late;
      send('activity', traffic.activity);
      send('inventory', traffic.inventory);
      send('refunds', traffic.refunds);
    }
    if (now - lastReport >= 1000) {
      totals.elapsedSeconds = (now - started) / 1000;
      totals.rate = Math.round(((totals.sent - sentAtLastReport) * 1000) / (now - lastReport));
      sentAtLastReport = totals.sent;
      lastReport = now;
      options.onProgress?.({ ...totals });
    }
  }
  await Promise.all(inFlight);
  if (refused) problems.add((refused as Refused).message);

  totals.elapsedSeconds = (performance.now() - started) / 1000;
  totals.rate = Math.round(totals.sent / Math.max(totals.elapsedSeconds, 0.001));
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
  return {
    ...totals,
    injectedDuplicates,
    requests,
    latency: { p50: at(0.5), p95: at(0.95), max: Math.round(sorted.at(-1) ?? 0) },
    revenue: Object.fromEntries(
      [...revenueMinor].map(([code, { minor, digits }]) => [code, formatMinor(minor, digits)]),
    ),
    refunded: Object.fromEntries(
      [...refundedMinor].map(([code, { minor, digits }]) => [code, formatMinor(minor, digits)]),
    ),
    orders: orderIds.size,
    problems: [...problems].slice(0, 20),
  };
}

/** Minor units as a decimal string: (1999, 2) → "19.99". */
function formatMinor(minor: number | bigint, digits: number): string {
  const text = BigInt(minor)
    .toString()
    .padStart(digits + 1, '0');
  return digits === 0 ? text : `${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)] as T;
}

function pickWeighted<T extends { share: number }>(items: readonly T[], random: () => number): T {
  let roll = random();
  for (const item of items) {
    roll -= item.share;
    if (roll < 0) return item;
  }
  return items[items.length - 1] as T;
}

/** A small seeded PRNG: the same seed gives the same traffic. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** One progress line: "  12s  rate 498/s  accepted 5960  duplicates 61  rejected 0  errors 0". */
export function formatProgress(p: SimulationProgress): string {
  return `${p.elapsedSeconds.toFixed(0).padStart(4)}s  rate ${p.rate}/s  sent ${p.sent}  accepted ${p.accepted}  duplicates ${p.duplicates}  rejected ${p.rejected}  errors ${p.failedRequests}  late ${p.late}`;
}

export function formatSummary(s: SimulationSummary): string {
  const revenue = Object.entries(s.revenue)
    .map(([code, amount]) => `${amount} ${code}`)
    .join(', ');
  const refunded = Object.entries(s.refunded)
    .map(([code, amount]) => `${amount} ${code}`)
    .join(', ');
  return [
    `simulated ${s.elapsedSeconds.toFixed(1)} s at ${s.rate} events/s: ${s.sent} events in ${s.requests} requests`,
    `  accepted ${s.accepted}, duplicates ${s.duplicates} (${s.injectedDuplicates} sent on purpose), rejected ${s.rejected}, failed requests ${s.failedRequests}, late ${s.late}`,
    `  ${s.orders} orders, revenue ${revenue || 'none'}, refunded ${refunded || 'none'}`,
    `  request latency p50 ${s.latency.p50} ms, p95 ${s.latency.p95} ms, max ${s.latency.max} ms`,
    ...(s.problems.length > 0 ? ['  problems:', ...s.problems.map((p) => `    ${p}`)] : []),
  ].join('\n');
}

const USAGE = `usage: npm run simulate -- --rate <events/s> --duration <s> [--shoppers N] [--products M] [--url U] [--key K] [--seed S] [--concurrency C]`;

/** The options, shared with `npm run demo --help`. */
export const SIMULATE_OPTIONS = `Options:
  --rate N          events per second (default 50)
  --duration S      seconds to run, or inf (default 30)
  --shoppers N      simulated shoppers (default 200)
  --products N      products in the catalogue (default 100)
  --url U           GraphQL endpoint (default http://127.0.0.1:4000/graphql)
  --key K           API key or JWT with the integration (or admin) role, when the server has auth on
                    (default: SHOPSTREAM_KEY)
  --seed S          seed of the traffic model (default: random)
  --concurrency C   requests in flight at most (default 4)
  -h, --help        show this help`;

const HELP = `
${USAGE}

Drives a running server with a simulated shop through its public mutations: the catalogue (names,
categories, list prices) first, then shoppers browse, cart and buy, a warehouse restocks, a few
events arrive late or twice, a few order lines are refunded (most of them returned to stock).
Prints progress on stderr
and a summary at the end; Ctrl-C stops early.

${SIMULATE_OPTIONS}
`;

/** Parses the command line; throws a message naming the bad option. */
export function parseSimulateArgs(argv: string[]): Omit<SimulationOptions, 'signal' | 'onProgress'> {
  const { values } = parseArgs({
    args: argv,
    options: {
      rate: { type: 'string', default: '50' },
      duration: { type: 'string', default: '30' },
      shoppers: { type: 'string', default: '200' },
      products: { type: 'string', default: '100' },
      url: { type: 'string', default: 'http://127.0.0.1:4000/graphql' },
      key: { type: 'string' },
      seed: { type: 'string' },
      concurrency: { type: 'string', default: '4' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const number = (name: string, value: string, min: number, allowInfinity = false) => {
    if (allowInfinity && value === 'inf') return Number.POSITIVE_INFINITY;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min)
      throw new Error(`--${name} must be a number of at least ${min}, got "${value}"\n${USAGE}`);
    return n;
  };
  let url: URL;
  try {
    url = new URL(values.url);
  } catch {
    throw new Error(`--url must be a URL such as http://127.0.0.1:4000/graphql, got "${values.url}"`);
  }
  return {
    url: url.href,
    key: values.key ?? process.env.SHOPSTREAM_KEY,
    rate: number('rate', values.rate, 1),
    durationSeconds: number('duration', values.duration, 0, true),
    shoppers: Math.floor(number('shoppers', values.shoppers, 1)),
    products: Math.floor(number('products', values.products, 1)),
    seed: values.seed === undefined ? undefined : Math.floor(number('seed', values.seed, 0)),
    concurrency: Math.floor(number('concurrency', values.concurrency, 1)),
  };
}

/** Runs with a progress line on stderr until done or Ctrl-C; resolves to the exit code. */
export async function simulateFromCommandLine(argv: string[], extra: Partial<SimulationOptions> = {}): Promise<number> {
  printHelpIfAsked(HELP, argv);
  let parsed: ReturnType<typeof parseSimulateArgs>;
  try {
    parsed = parseSimulateArgs(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const tty = process.stderr.isTTY;
  const summary = await runSimulation({
    ...parsed,
    ...extra,
    signal: abort.signal,
    onProgress: (p) => {
      if (tty) process.stderr.write(`\r${formatProgress(p)}\x1b[K`);
      else if (Math.round(p.elapsedSeconds) % 5 === 0) process.stderr.write(`${formatProgress(p)}\n`);
    },
  });
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  if (tty) process.stderr.write('\n');
  process.stdout.write(`${formatSummary(summary)}\n`);
  return summary.failedRequests > 0 && summary.accepted === 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await simulateFromCommandLine(process.argv.slice(2));
}
