// The pure rules of the recommendations stream: scoring, reasons, exclusion, order, and what one
// action may learn (bounded by the shopper's N most recent products).
import { describe, expect, it } from 'vitest';
import { type Action, learnFromActions, type Signal } from '../../src/core/recommendations/co-occurrence.js';
import { addToSummary, type PartnerSummary } from '../../src/core/recommendations/partners.js';
import { bucketOf, windowStart } from '../../src/core/recommendations/popularity.js';
import { type RelatedCandidate, rankRecommendations, sameItems } from '../../src/core/recommendations/rank.js';

const related = (
  sourceId: string,
  productId: string,
  kind: 'bought' | 'viewed',
  pairScore: number,
  sourceWeight = 1,
): RelatedCandidate => ({ sourceId, sourceWeight, productId, kind, pairScore });
const none = new Set<string>();

describe('rankRecommendations', () => {
  it('scores a product by the sum of source weight × pair score, viewed pairs at half', () => {
    const items = rankRecommendations({
      related: [related('101', '200', 'bought', 2, 5), related('102', '200', 'viewed', 4, 1)],
      popular: [],
      owned: none,
      size: 10,
    });
    expect(items).toEqual([{ productId: '200', score: 5 * 2 + 1 * 4 * 0.5, reason: 'Often bought with 101' }]);
  });

  it('gives the reason of the largest term: "Often viewed with" when looking together weighs most', () => {
    const items = rankRecommendations({
      related: [related('101', '200', 'bought', 1, 1), related('102', '200', 'viewed', 10, 3)],
      popular: [],
      owned: none,
      size: 10,
    });
    expect(items[0]?.reason).toBe('Often viewed with 102');
  });

  it('ranks by score, best first', () => {
    const items = rankRecommendations({
      related: [related('1', 'a', 'bought', 1), related('1', 'b', 'bought', 3), related('1', 'c', 'bought', 2)],
      popular: [],
      owned: none,
      size: 10,
    });
    expect(items.map((i) => i.productId)).toEqual(['b', 'c', 'a']);
  });

  it('never recommends a product the shopper bought, neither related nor popular', () => {
    const items = rankRecommendations({
      related: [related('101', '103', 'bought', 9), related('101', '104', 'bought', 1)],
      popular: [
        { productId: '103', score: 100 },
        { productId: '105', score: 50 },
      ],
      owned: new Set(['103']),
      size: 10,
    });
    expect(items.map((i) => i.productId)).toEqual(['104', '105']);
  });

  it('lists a product once, even when it is related to several recent products and popular too', () => {
    const items = rankRecommendations({
      related: [related('1', 'x', 'bought', 1), related('2', 'x', 'viewed', 1), related('3', 'x', 'bought', 1)],
      popular: [{ productId: 'x', score: 10 }],
      owned: none,
      size: 10,
    });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ productId: 'x', score: 2.5, reason: 'Often bought with 1' });
  });

  it('breaks ties by product id, for scores, for reasons and for popular products, whatever the input order', () => {
    const input = [
      related('9', 'b', 'bought', 1),
      related('5', 'a', 'bought', 1),
      related('7', 'a', 'viewed', 2),
      related('3', 'b', 'bought', 1),
    ];
    const popular = [
      { productId: 'q', score: 1 },
      { productId: 'p', score: 1 },
    ];
    const one = rankRecommendations({ related: input, popular, owned: none, size: 10 });
    const other = rankRecommendations({
      related: [...input].reverse(),
      popular: [...popular].reverse(),
      owned: none,
      size: 10,
    });
    expect(one).toEqual(other);
    expect(one.map((i) => [i.productId, i.reason])).toEqual([
      ['a', 'Often bought with 5'], // 1 (bought) ties 2 × 0.5 (viewed): bought wins
      ['b', 'Often bought with 3'], // equal terms: the smaller source id
      ['p', 'Popular right now'],
      ['q', 'Popular right now'],
    ]);
  });

  it('fills with popular products after the related ones, scored below them, up to the size', () => {
    const items = rankRecommendations({
      related: [related('1', 'r', 'bought', 1, 4)],
      popular: [
        { productId: 'p1', score: 300 },
        { productId: 'p2', score: 150 },
        { productId: 'p3', score: 100 },
      ],
      owned: none,
      size: 3,
    });
    expect(items).toEqual([
      { productId: 'r', score: 4, reason: 'Often bought with 1' },
      { productId: 'p1', score: 2, reason: 'Popular right now' },
      { productId: 'p2', score: 1, reason: 'Popular right now' },
    ]);
  });

  it('a new shopper gets the popular products, the most popular scoring 1', () => {
    const items = rankRecommendations({
      related: [],
      popular: [
        { productId: 'p1', score: 8 },
        { productId: 'p2', score: 2 },
      ],
      owned: none,
      size: 5,
    });
    expect(items).toEqual([
      { productId: 'p1', score: 1, reason: 'Popular right now' },
      { productId: 'p2', score: 0.25, reason: 'Popular right now' },
    ]);
  });

  it('sameItems compares products, scores and reasons in order', () => {
    const a = [{ productId: '1', score: 1, reason: 'Popular right now' }];
    expect(sameItems(a, [{ ...a[0]! }])).toBe(true);
    expect(sameItems(a, [{ ...a[0]!, score: 2 }])).toBe(false);
    expect(sameItems(a, [])).toBe(false);
  });
});

const settings = { weights: { browse: 1, addToCart: 3, purchase: 5 }, recentProducts: 3, sessionMinutes: 30 };
const t0 = Date.parse('2026-11-25T10:00:00Z');
const at = (minutes: number) => new Date(t0 + minutes * 60_000);
const act = (userId: string, productId: string, type: Action['type'], minutes: number): Action => ({
  userId,
  productId,
  type,
  occurredAt: at(minutes),
});
const signal = (productId: string, minutes: number, extra: Partial<Signal> = {}): Signal => ({
  userId: 'u',
  productId,
  weight: 1,
  lastAt: at(minutes),
  carted: false,
  purchased: false,
  ...extra,
});
const pairsOf = (result: ReturnType<typeof learnFromActions>) =>
  result.pairs.map((p) => `${p.productA}>${p.productB}:${p.kind}:${p.score}`);

describe('learnFromActions', () => {
  it('pairs a first look with the shopper’s earlier products (viewed) and carts and purchases with earlier carted ones (bought), both ways, in key order', () => {
    const result = learnFromActions(
      [],
      [act('u', '101', 'BROWSE', 0), act('u', '102', 'ADD_TO_CART', 1), act('u', '103', 'PURCHASE', 2)],
      settings,
    );
    expect(pairsOf(result)).toEqual([
      '101>102:viewed:1',
      '101>103:viewed:1',
      '102>103:bought:1',
      '102>101:viewed:1',
      '102>103:viewed:1',
      '103>102:bought:1',
      '103>101:viewed:1',
      '103>102:viewed:1',
    ]);
    expect(result.signals.map((s) => [s.productId, s.weight, s.carted, s.purchased])).toEqual([
      ['101', 1, false, false],
      ['102', 3, true, false],
      ['103', 5, true, true],
    ]);
  });

  it('a repeated look adds nothing: each shopper counts once per pair and kind', () => {
    const prior = [signal('101', 0), signal('102', 1)];
    const result = learnFromActions(prior, [act('u', '101', 'BROWSE', 5), act('u', '102', 'BROWSE', 6)], settings);
    expect(result.pairs).toEqual([]);
    expect(result.signals.map((s) => s.lastAt)).toEqual([at(5), at(6)]);
  });

  it('buying what the shopper looked at before adds only the bought pairs', () => {
    const prior = [signal('101', 0, { carted: true, weight: 3 }), signal('102', 1)];
    const result = learnFromActions(prior, [act('u', '102', 'PURCHASE', 2)], settings);
    expect(pairsOf(result)).toEqual(['101>102:bought:1', '102>101:bought:1']);
  });

  it('pairs one action with at most N of the shopper’s most recent products, however long the history', () => {
    const prior = Array.from({ length: 10 }, (_, i) => signal(`p${i}`, i));
    const result = learnFromActions(prior, [act('u', 'new', 'BROWSE', 20)], settings);
    expect(result.pairs.filter((p) => p.productA === 'new').map((p) => p.productB)).toEqual(['p7', 'p8', 'p9']);
  });

  it('counts a pair within the session window 1 and across the history 0.5', () => {
    const prior = [signal('old', -24 * 60), signal('near', -10)];
    const result = learnFromActions(prior, [act('u', 'new', 'BROWSE', 0)], settings);
    expect(pairsOf(result).filter((p) => p.startsWith('new'))).toEqual(['new>near:viewed:1', 'new>old:viewed:0.5']);
  });

  it('keeps shoppers apart and ignores removals from the cart', () => {
    const result = learnFromActions(
      [],
      [act('a', '1', 'BROWSE', 0), act('b', '2', 'BROWSE', 0), act('a', '3', 'REMOVE_FROM_CART', 1)],
      settings,
    );
    expect(result.pairs).toEqual([]);
    expect(result.signals.map((s) => `${s.userId}:${s.productId}`)).toEqual(['a:1', 'b:2']);
  });

  it('a late event does not make its product recent again', () => {
    const result = learnFromActions([signal('101', 10)], [act('u', '101', 'PURCHASE', 0)], settings);
    expect(result.signals[0]).toMatchObject({ lastAt: at(10), weight: 5, purchased: true, carted: true });
  });
});

describe('popularity buckets', () => {
  it('buckets by UTC hour and a window of H hours starts H-1 buckets before the current one', () => {
    expect(bucketOf(new Date('2026-11-25T10:59:59.999Z')).toISOString()).toBe('2026-11-25T10:00:00.000Z');
    expect(windowStart(new Date('2026-11-25T10:30:00Z'), 24).toISOString()).toBe('2026-11-24T11:00:00.000Z');
  });
});

describe('partner summaries (Space-Saving)', () => {
  const increments = (entries: Record<string, number>) => new Map(Object.entries(entries));

  it('keeps exact scores, strongest first, while a product has no more partners than the capacity', () => {
    const once = addToSummary([], increments({ b: 1, c: 0.5, a: 1 }), 4);
    const twice = addToSummary(once, increments({ c: 1, d: 0.5 }), 4);
    expect(once).toEqual([
      ['a', 1],
      ['b', 1],
      ['c', 0.5],
    ]);
    expect(twice).toEqual([
      ['c', 1.5],
      ['a', 1],
      ['b', 1],
      ['d', 0.5],
    ]);
  });

  it('a newcomer on a full summary replaces the weakest and starts from its score', () => {
    const full: PartnerSummary = [
      ['a', 5],
      ['b', 3],
      ['c', 1],
    ];
    expect(addToSummary(full, increments({ d: 1 }), 3)).toEqual([
      ['a', 5],
      ['b', 3],
      ['d', 2],
    ]);
  });

  it('never loses a partner whose score is above the total added ÷ the capacity, however much noise passes', () => {
    let summary: PartnerSummary = [];
    for (let round = 0; round < 200; round++) {
      // Two strong partners every round (200 and 100 in all), and four one-off ones that are never
      // seen again: 700 added in all, so any partner above 700 ÷ 8 = 87.5 must be kept.
      const batch: Record<string, number> = { strong: 1, steady: 0.5 };
      for (let k = 0; k < 4; k++) batch[`noise-${round}-${k}`] = 0.5;
      summary = addToSummary(summary, increments(batch), 8);
    }
    expect(summary).toHaveLength(8);
    expect(summary.slice(0, 2).map(([id]) => id)).toEqual(['strong', 'steady']);
    // Space-Saving's bound: a score is at least the true count and at most that plus the weakest.
    expect(summary[0]?.[1]).toBeGreaterThanOrEqual(200);
    expect((summary[0]?.[1] ?? 0) - 200).toBeLessThanOrEqual(summary.at(-1)?.[1] ?? 0);
  });

  it('is deterministic: the same increments in any order give the same summary', () => {
    const full: PartnerSummary = [
      ['a', 2],
      ['b', 1],
    ];
    const forward = addToSummary(full, increments({ x: 1, y: 1, z: 2 }), 3);
    const backward = addToSummary(full, new Map([...increments({ x: 1, y: 1, z: 2 })].reverse()), 3);
    expect(forward).toEqual(backward);
    // z takes the free counter; x replaces b (1) and y then the weakest of the ties at 2 (z).
    expect(forward).toEqual([
      ['y', 3],
      ['a', 2],
      ['x', 2],
    ]);
  });
});
