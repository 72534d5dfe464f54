// A shopper's list, as a pure rule: products related to what the shopper recently did, best
// first, then popular products to fill it. Never a product the shopper bought, never one twice,
// and the same inputs always give the same list (ties go to the smaller product id).
import type { PairKind, Recommendation } from './types.js';

/** productId goes with sourceId, one of the shopper's recent products. */
export type RelatedCandidate = {
  sourceId: string;
  /** How much the shopper's action on the source says (the configured weight of that action). */
  sourceWeight: number;
  productId: string;
  kind: PairKind;
  /** How many shoppers did both, from the source's partner summary (see partners.ts). */
  pairScore: number;
};

export type PopularProduct = { productId: string; score: number };

export type RankInput = {
  related: readonly RelatedCandidate[];
  /** Best first. */
  popular: readonly PopularProduct[];
  /** Products the shopper bought: never recommended. */
  owned: ReadonlySet<string>;
  size: number;
};

/** Looking at two products together says less than carting or buying them together. */
export const VIEWED_PAIR_FACTOR = 0.5;

export const POPULAR_REASON = 'Popular right now';

/**
 * Related products score Σ sourceWeight × pairScore (× VIEWED_PAIR_FACTOR for viewed pairs), and
 * carry the reason of their largest term. Popular products fill the rest, scored below half the
 * lowest related score (in a list with none, the most popular product scores 1), so the list is
 * always in score order.
 */
export function rankRecommendations({ related, popular, owned, size }: RankInput): Recommendation[] {
  const scored = new Map<string, Scored>();
  for (const candidate of related) {
    if (candidate.productId === candidate.sourceId || owned.has(candidate.productId)) continue;
    const value = candidate.sourceWeight * candidate.pairScore * (candidate.kind === 'viewed' ? VIEWED_PAIR_FACTOR : 1);
    if (!(value > 0)) continue;
    const entry = scored.get(candidate.productId);
    if (!entry) {
      scored.set(candidate.productId, {
        productId: candidate.productId,
        sum: value,
        score: 0,
        best: { value, kind: candidate.kind, sourceId: candidate.sourceId },
      });
    } else {
      entry.sum += value;
      if (isStronger(value, candidate.kind, candidate.sourceId, entry.best)) {
        entry.best = { value, kind: candidate.kind, sourceId: candidate.sourceId };
      }
    }
  }
  // Rank first, then word the reasons of the few that made the list (a shopper has hundreds of
  // candidates; this is the processing core's hottest loop).
  const ranked: Scored[] = [];
  for (const entry of scored.values()) {
    entry.score = round(entry.sum);
    ranked.push(entry);
  }
  ranked.sort(byScoreThenId);
  const items: Recommendation[] = [];
  const taken = new Set<string>();
  for (let i = 0; i < ranked.length && i < size; i++) {
    const entry = ranked[i] as Scored;
    items.push({ productId: entry.productId, score: entry.score, reason: reasonOf(entry.best) });
    taken.add(entry.productId);
  }
  if (items.length >= size) return items;

  const fill = popular.filter((p) => p.score > 0 && !owned.has(p.productId) && !taken.has(p.productId));
  let top = 0;
  for (const p of fill) if (p.score > top) top = p.score;
  const floor = items.length > 0 ? (items.at(-1) as Recommendation).score : 2;
  const filled = fill
    .map((p) => ({ productId: p.productId, score: round((floor / 2) * (p.score / top)), reason: POPULAR_REASON }))
    .sort(byScoreThenId);
  for (const item of filled) {
    if (items.length >= size) break;
    if (taken.has(item.productId)) continue;
    taken.add(item.productId);
    items.push(item);
  }
  return items;
}

/** Two lists are the same list when they show the same products, scores and reasons in order. */
export function sameItems(a: readonly Recommendation[], b: readonly Recommendation[]): boolean {
  return (
    a.length === b.length &&
    a.every((x, i) => {
      const y = b[i] as Recommendation;
      return x.productId === y.productId && x.score === y.score && x.reason === y.reason;
    })
  );
}

type Term = { value: number; kind: PairKind; sourceId: string };

type Scored = { productId: string; sum: number; score: number; best: Term };

function isStronger(value: number, kind: PairKind, sourceId: string, than: Term): boolean {
  if (value !== than.value) return value > than.value;
  if (kind !== than.kind) return kind === 'bought';
  return sourceId < than.sourceId;
}

function reasonOf(term: Term): string {
  return `Often ${term.kind} with ${term.sourceId}`;
}

function byScoreThenId(a: { productId: string; score: number }, b: { productId: string; score: number }): number {
  if (a.score !== b.score) return b.score - a.score;
  return a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0;
}

/** Six decimals: a stored list compares equal to a recomputed one despite float noise. */
function round(score: number): number {
  return Math.round(score * 1e6) / 1e6;
}
