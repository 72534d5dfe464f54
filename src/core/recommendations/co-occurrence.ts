// Learns from a batch what each shopper did and which products go together, with a bounded cost
// per event: an action is paired only with the shopper's `recentProducts` most recent other
// products, and only the first time the shopper looks at a product (viewed pairs) or carts or buys
// it (bought pairs). So each shopper adds at most one count per pair and kind, a repeated browse
// adds nothing, and a shopper with a long history costs what a shopper with N products costs.
import type { Write } from '../../db/together.js';
import type { Tx } from '../../db/transaction.js';
import type { ActivityType } from '../activity/types.js';
import type { PairKind, RecommendationSettings } from './types.js';

/** What one shopper did with one product so far (a user_product_signals row). */
export type Signal = {
  userId: string;
  productId: string;
  weight: number;
  lastAt: Date;
  carted: boolean;
  purchased: boolean;
};

export type Action = { userId: string; productId: string; type: ActivityType; occurredAt: Date };

/** Added to productB's score in productA's partner summary (partners.ts); both directions are listed. */
export type PairIncrement = { productA: string; productB: string; kind: PairKind; score: number };

/** A pair across the shopper's history (outside one session window) counts this much. */
export const ACROSS_HISTORY_FACTOR = 0.5;

/** The configured weight of an action; REMOVE_FROM_CART says nothing about interest (0). */
export function weightOf(type: ActivityType, weights: RecommendationSettings['weights']): number {
  switch (type) {
    case 'BROWSE':
      return weights.browse;
    case 'ADD_TO_CART':
      return weights.addToCart;
    case 'PURCHASE':
      return weights.purchase;
    default:
      return 0;
  }
}

/**
 * Walks `actions` (in feed order) over what was known before the batch. `prior` must hold, per
 * shopper, the `recentProducts` most recent signals, the `recentProducts` most recent carted
 * ones, and the signal of every product the batch mentions (readPriorSignals does this), so that
 * "first time" and "most recent" are exact. Returns the new state of every signal the batch
 * touched and the pair increments, aggregated and in a fixed order (row locks in one order).
 */
export function learnFromActions(
  prior: readonly Signal[],
  actions: readonly Action[],
  settings: Pick<RecommendationSettings, 'weights' | 'recentProducts' | 'sessionMinutes'>,
): { signals: Signal[]; pairs: PairIncrement[] } {
  const known = new Map<string, Map<string, Signal>>();
  for (const { userId, productId, weight, lastAt, carted, purchased } of prior) {
    // Copied field by field: a spread copy takes a slow path in V8 (see activity/log.ts).
    mapOf(known, userId).set(productId, { userId, productId, weight, lastAt, carted, purchased });
  }
  const touched = new Map<string, Signal>();
  const pairs = new Map<string, PairIncrement>();
  const sessionMs = settings.sessionMinutes * 60_000;

  const pairWith = (action: Action, partners: readonly Signal[], kind: PairKind) => {
    for (const partner of partners) {
      const near = Math.abs(action.occurredAt.getTime() - partner.lastAt.getTime()) <= sessionMs;
      const score = near ? 1 : ACROSS_HISTORY_FACTOR;
      for (const [a, b] of [
        [action.productId, partner.productId],
        [partner.productId, action.productId],
      ] as const) {
        const key = `${a}\u0000${kind}\u0000${b}`;
        const pair = pairs.get(key);
        if (pair) pair.score += score;
        else pairs.set(key, { productA: a, productB: b, kind, score });
      }
    }
  };

  for (const action of actions) {
    const weight = weightOf(action.type, settings.weights);
    if (weight <= 0) continue;
    const mine = mapOf(known, action.userId);
    const before = mine.get(action.productId);
    const carts = action.type === 'ADD_TO_CART' || action.type === 'PURCHASE';
    if (!before) pairWith(action, mostRecent(mine, action.productId, settings.recentProducts, false), 'viewed');
    if (carts && !before?.carted)
      pairWith(action, mostRecent(mine, action.productId, settings.recentProducts, true), 'bought');
    const after: Signal = {
      userId: action.userId,
      productId: action.productId,
      weight: Math.max(before?.weight ?? 0, weight),
      lastAt: before && before.lastAt > action.occurredAt ? before.lastAt : action.occurredAt,
      carted: (before?.carted ?? false) || carts,
      purchased: (before?.purchased ?? false) || action.type === 'PURCHASE',
    };
    mine.set(action.productId, after);
    touched.set(`${action.userId}\u0000${action.productId}`, after);
  }
  return {
    signals: [...touched.values()].sort((a, b) => compare(a.userId, b.userId) || compare(a.productId, b.productId)),
    pairs: [...pairs.values()].sort(
      (a, b) => compare(a.productA, b.productA) || compare(a.kind, b.kind) || compare(a.productB, b.productB),
    ),
  };
}

/**
 * The shopper's `n` most recent products other than `except` (newest first, then by id). One pass
 * with a bounded insertion: it runs for every new action, so it must not sort the whole history.
 */
export function mostRecent(signals: ReadonlyMap<string, Signal>, except: string, n: number, carted: boolean): Signal[] {
  const top: Signal[] = [];
  for (const signal of signals.values()) {
    if (signal.productId === except || (carted && !signal.carted)) continue;
    if (top.length === n && !newer(signal, top[n - 1] as Signal)) continue;
    let at = top.length === n ? n - 1 : top.length;
    while (at > 0 && newer(signal, top[at - 1] as Signal)) {
      top[at] = top[at - 1] as Signal;
      at--;
    }
    top[at] = signal;
  }
  return top;
}

function newer(a: Signal, b: Signal): boolean {
  const byTime = b.lastAt.getTime() - a.lastAt.getTime();
  return byTime < 0 || (byTime === 0 && a.productId < b.productId);
}

/** Code-unit order, the same as `COLLATE "C"` in SQL. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function mapOf<V>(maps: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let map = maps.get(key);
  if (!map) {
    map = new Map();
    maps.set(key, map);
  }
  return map;
}

/** See learnFromActions: the signals the walk needs, per shopper at most 2N + the batch's products. */
export async function readPriorSignals(tx: Tx, actions: readonly Action[], recentProducts: number): Promise<Signal[]> {
  const users = [...new Set(actions.map((a) => a.userId))];
  const { rows } = await tx.query(
    `WITH u AS (SELECT unnest($1::text[]) AS user_id)
     SELECT s.* FROM u CROSS JOIN LATERAL (
       (SELECT * FROM user_product_signals s WHERE s.user_id = u.user_id
         ORDER BY s.last_at DESC, s.product_id COLLATE "C" LIMIT $4)
       UNION
       (SELECT * FROM user_product_signals s WHERE s.user_id = u.user_id AND s.carted
         ORDER BY s.last_at DESC, s.product_id COLLATE "C" LIMIT $4)
     ) s
     UNION
     SELECT s.* FROM user_product_signals s
       JOIN unnest($2::text[], $3::text[]) AS k(user_id, product_id) USING (user_id, product_id)`,
    [users, actions.map((a) => a.userId), actions.map((a) => a.productId), recentProducts],
  );
  return rows.map((row) => ({
    userId: row.user_id,
    productId: row.product_id,
    weight: Number(row.weight),
    lastAt: row.last_at,
    carted: row.carted,
    purchased: row.purchased,
  }));
}

/** The walk computed each row's new state under the shopper's lock, so it is written as is. */
export function signalsWrite(signals: readonly Signal[]): Write | null {
  if (signals.length === 0) return null;
  return {
    text: `INSERT INTO user_product_signals (user_id, product_id, weight, last_at, carted, purchased)
     SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::timestamptz[], $5::bool[], $6::bool[])
     ON CONFLICT (user_id, product_id) DO UPDATE
       SET weight = EXCLUDED.weight, last_at = EXCLUDED.last_at,
           carted = EXCLUDED.carted, purchased = EXCLUDED.purchased`,
    values: [
      signals.map((s) => s.userId),
      signals.map((s) => s.productId),
      signals.map((s) => s.weight),
      signals.map((s) => s.lastAt.toISOString()),
      signals.map((s) => s.carted),
      signals.map((s) => s.purchased),
    ],
  };
}
