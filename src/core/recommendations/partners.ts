// Which products go with a product: per product and kind, ONE row holding a bounded summary of
// its strongest partners (Space-Saving, Metwally, Agrawal and El Abbadi 2005; ClickHouse's topK
// works the same way), instead of one row per pair. On a catalogue of thousands of products nearly
// every pair a batch adds is new, so a row per pair made the recommendations processor write
// about eight index-updating rows per event; a summary makes a batch rewrite each touched
// product's row once, whatever the batch's size, and a list build read one row per recent product.
//
// The summary keeps `capacity` counters. A partner already in it gains its increment; a new one
// takes a free counter, or replaces the weakest and starts from that counter's score (Space-Saving
// may overestimate a newcomer, by at most the weakest score, but never loses a partner that is
// truly among the strongest). Until a product has more partners than the capacity, every score is
// exact. Stored as JSON text, [[productId, score], ...] strongest first: PostgreSQL never looks
// inside, and text costs a seventh of jsonb to write (measured: 4,000 rows of 64 partners).

import type { Write } from '../../db/together.js';
import type { Tx } from '../../db/transaction.js';
import type { Queryable } from '../../feed/feed.js';
import { compare, type PairIncrement } from './co-occurrence.js';
import type { PairKind, RecommendationSettings } from './types.js';

/** [productId, score], strongest first (ties: smaller id first). */
export type PartnerSummary = Array<[string, number]>;

/** A product's partner of one kind, as a list build reads it. */
export type Partner = { productId: string; kind: PairKind; score: number };

/**
 * Counters per product and kind: three times the partners a list build reads, and at least 64,
 * so that the partners it reads are exact or nearly so (the weakest counters churn, not those).
 */
export function partnerCapacity(settings: Pick<RecommendationSettings, 'partnersPerProduct'>): number {
  return Math.max(64, 3 * settings.partnersPerProduct);
}

/**
 * Adds `increments` (partner → score to add) to `summary` and returns the new summary, strongest
 * first. Deterministic: known partners first, then newcomers strongest increment first.
 */
export function addToSummary(
  summary: Readonly<PartnerSummary>,
  increments: ReadonlyMap<string, number>,
  capacity: number,
): PartnerSummary {
  // A copy updated in place: a batch adds a few partners to a summary of up to `capacity`, so a
  // scan finds them, and since scores only grow, each changed entry only moves towards the front
  // (an insertion step, not a sort: measured 13 µs a summary with sort(), 3 µs this way).
  const next = summary.slice() as PartnerSummary;
  let newcomers: Array<[string, number]> | null = null;
  for (const [partner, add] of increments) {
    let at = -1;
    for (let i = 0; i < next.length; i++) {
      if ((next[i] as [string, number])[0] === partner) {
        at = i;
        break;
      }
    }
    if (at < 0) {
      newcomers ??= [];
      newcomers.push([partner, add]);
      continue;
    }
    next[at] = [partner, (next[at] as [string, number])[1] + add];
    moveUp(next, at);
  }
  if (newcomers === null) return next;
  if (newcomers.length > 1) newcomers.sort(strongestFirst);
  for (const [partner, add] of newcomers) {
    if (next.length < capacity) {
      next.push([partner, add]);
      moveUp(next, next.length - 1);
      continue;
    }
    // Space-Saving: the newcomer takes the weakest counter (the last) and starts from its score.
    const weakest = next.length - 1;
    next[weakest] = [partner, (next[weakest] as [string, number])[1] + add];
    moveUp(next, weakest);
  }
  return next;
}

/** Moves entries[at], whose score grew (or which is new), to its place in an otherwise ordered array. */
function moveUp(entries: PartnerSummary, at: number): void {
  const entry = entries[at] as [string, number];
  let i = at;
  while (i > 0 && strongestFirst(entry, entries[i - 1] as [string, number]) < 0) {
    entries[i] = entries[i - 1] as [string, number];
    i--;
  }
  entries[i] = entry;
}

function strongestFirst(a: readonly [string, number], b: readonly [string, number]): number {
  return b[1] - a[1] || compare(a[0], b[0]);
}

/** Between summaries sent as one text: JSON.stringify escapes every control character, so no
 * summary contains it. */
const SEPARATOR = '\x1e';

/** A summary row's key: `${productId}\u0000${kind}`. */
export type SummaryKey = string;

/**
 * Folds a batch's pair increments into the stored summaries: one read of every (product, kind) the
 * batch touched and not found in `known` (summaries exactly as stored, see SummaryCache), and the
 * write of them all (returned, for the caller to send with its other writes). The caller holds
 * the recommendations processor's lock (one batch at a time), so no other writer changes these
 * rows between the read and the write. Returns every summary the write stores.
 */
export async function addPairs(
  tx: Tx,
  pairs: readonly PairIncrement[],
  capacity: number,
  known?: SummaryCache,
): Promise<{ written: Map<SummaryKey, PartnerSummary>; write: Write | null }> {
  const written = new Map<SummaryKey, PartnerSummary>();
  if (pairs.length === 0) return { written, write: null };
  const byRow = new Map<string, { productId: string; kind: PairKind; increments: Map<string, number> }>();
  for (const pair of pairs) {
    const key = `${pair.productA}\u0000${pair.kind}`;
    let row = byRow.get(key);
    if (!row) {
      row = { productId: pair.productA, kind: pair.kind, increments: new Map() };
      byRow.set(key, row);
    }
    row.increments.set(pair.productB, (row.increments.get(pair.productB) ?? 0) + pair.score);
  }
  // In one order (product, kind), so that the write locks rows in the order every batch does.
  const rows = [...byRow.values()].sort((a, b) => compare(a.productId, b.productId) || compare(a.kind, b.kind));
  const before = new Map<SummaryKey, PartnerSummary>();
  const unknown = rows.filter((r) => {
    const cached = known?.get(`${r.productId}\u0000${r.kind}`);
    if (cached) before.set(`${r.productId}\u0000${r.kind}`, cached);
    return !cached;
  });
  if (unknown.length > 0) {
    const { rows: stored } = await tx.query(
      `SELECT p.product_id, p.kind, p.partners FROM product_partners p
         JOIN unnest($1::text[], $2::text[]) AS k(product_id, kind) USING (product_id, kind)`,
      [unknown.map((r) => r.productId), unknown.map((r) => r.kind)],
    );
    for (const row of stored) before.set(`${row.product_id}\u0000${row.kind}`, JSON.parse(row.partners));
  }
  let summaries = '';
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as (typeof rows)[number];
    const key = `${row.productId}\u0000${row.kind}`;
    const summary = addToSummary(before.get(key) ?? [], row.increments, capacity);
    written.set(key, summary);
    summaries += i === 0 ? JSON.stringify(summary) : SEPARATOR + JSON.stringify(summary);
  }
  // The summaries travel as ONE text, split by PostgreSQL: as a text[] each 2 KB of JSON would be
  // quoted and escaped element by element by pg (measured: a fifth of the processor's CPU).
  return {
    written,
    write: {
      text: `INSERT INTO product_partners (product_id, kind, partners)
       SELECT * FROM unnest($1::text[], $2::text[], string_to_array($3::text, E'\\x1e'))
       ON CONFLICT (product_id, kind) DO UPDATE SET partners = EXCLUDED.partners`,
      values: [rows.map((r) => r.productId), rows.map((r) => r.kind), summaries],
    },
  };
}

/**
 * The summaries this process last committed, kept while it alone applies the recommendations
 * batches: each batch then reads from PostgreSQL (and parses) only the rows it has not written
 * itself lately. Bounded: the least recently used rows go first.
 *
 * It is exact or empty, never stale: only the holder of the processor's lock writes summaries, and
 * the cache is used only for a batch that starts at the checkpoint its last committed batch ended
 * at (any other owner moves the checkpoint in between); a rolled-back batch empties it.
 */
export class SummaryCache {
  private readonly rows = new Map<SummaryKey, PartnerSummary>();
  private validAt: string | null = null;
  private staged: { from: string; rows: Map<SummaryKey, PartnerSummary> } | null = null;

  constructor(private readonly limit: number) {}

  /** The cache for a batch starting at checkpoint `from`: emptied first unless it stands there. */
  openAt(from: string): this {
    if (this.validAt !== from) this.clear();
    return this;
  }

  get(key: SummaryKey): PartnerSummary | undefined {
    const summary = this.rows.get(key);
    if (summary) {
      this.rows.delete(key); // most recently used last
      this.rows.set(key, summary);
    }
    return summary;
  }

  /** What a batch starting at `from` wrote: kept if that batch commits (settled). */
  stage(from: string, written: Map<SummaryKey, PartnerSummary>): void {
    this.staged = { from, rows: written };
  }

  settled({ from, to, committed }: { from: string; to: string; committed: boolean }): void {
    const staged = this.staged;
    this.staged = null;
    if (!committed || this.validAt !== from || (staged && staged.from !== from)) {
      // Rolled back, or the checkpoint moved under us: start again from what is stored.
      this.clear();
      if (!committed) return;
    }
    for (const [key, summary] of staged?.rows ?? []) {
      this.rows.delete(key);
      this.rows.set(key, summary);
    }
    for (const key of this.rows.keys()) {
      if (this.rows.size <= this.limit) break;
      this.rows.delete(key);
    }
    this.validAt = to;
  }

  private clear(): void {
    this.rows.clear();
    this.validAt = null;
  }
}

/** A stored summary row, as read with the shoppers' recent products (lists.ts). */
export type PartnerRow = { product_id: string; kind: string; partners: string };

/**
 * The `limit` strongest partners of each product of `rows` that can be recommended, both kinds
 * together, strongest first (ties: smaller id, then bought before viewed): a partner whose stock
 * level is known to be 0 or less is skipped, so the next one takes its place.
 */
export async function strongestInStock(
  db: Queryable,
  rows: readonly PartnerRow[],
  limit: number,
): Promise<Map<string, Partner[]>> {
  const stored = new Map<string, { bought: PartnerSummary; viewed: PartnerSummary }>();
  const candidates = new Set<string>();
  for (const row of rows) {
    const summary = JSON.parse(row.partners) as PartnerSummary;
    for (const [productId] of summary) candidates.add(productId);
    let kinds = stored.get(row.product_id);
    if (!kinds) {
      kinds = { bought: [], viewed: [] };
      stored.set(row.product_id, kinds);
    }
    kinds[row.kind as PairKind] = summary;
  }
  const gone = await outOfStock(db, [...candidates]);
  const out = new Map<string, Partner[]>();
  for (const [productId, { bought, viewed }] of stored) out.set(productId, mergeStrongest(bought, viewed, gone, limit));
  return out;
}

/** The `limit` strongest of two summaries (each strongest first) not in `gone`; bought wins ties. */
function mergeStrongest(
  bought: PartnerSummary,
  viewed: PartnerSummary,
  gone: ReadonlySet<string>,
  limit: number,
): Partner[] {
  const out: Partner[] = [];
  let b = 0;
  let v = 0;
  while (out.length < limit && (b < bought.length || v < viewed.length)) {
    const nextBought = bought[b];
    const nextViewed = viewed[v];
    const takeBought =
      nextBought !== undefined && (nextViewed === undefined || strongestFirst(nextBought, nextViewed) <= 0);
    const [productId, score] = (takeBought ? nextBought : nextViewed) as [string, number];
    if (takeBought) b++;
    else v++;
    if (!gone.has(productId)) out.push({ productId, kind: takeBought ? 'bought' : 'viewed', score });
  }
  return out;
}

/** Those of `productIds` whose stock level is known to be 0 or less. */
async function outOfStock(db: Queryable, productIds: readonly string[]): Promise<Set<string>> {
  if (productIds.length === 0) return new Set();
  const { rows } = await db.query(
    'SELECT product_id FROM stock_levels WHERE product_id = ANY($1::text[]) AND quantity <= 0',
    [productIds],
  );
  return new Set(rows.map((row) => row.product_id as string));
}
