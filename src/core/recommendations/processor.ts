// The recommendations processor: follows the activity log and, for each batch: learn signals,
// partners and popularity from the new events (the derived counters, exact under concurrency), and
// queue the shoppers the batch touched for a list rebuild. The lists themselves are built after
// COMMIT by the builder (builder.ts), so a batch never pays for reading and ranking them.
// A fixed number of set-based statements per batch.
import { type Write, writeTogether } from '../../db/together.js';
import type { Tx } from '../../db/transaction.js';
import type { FeedTopic } from '../../feed/topics.js';
import { activityLog } from '../activity/log.js';
import type { InsertedActivityEvent } from '../activity/record.js';
import { eventsOf, type Processor } from '../processing/runner.js';
import { compare, learnFromActions, readPriorSignals, signalsWrite } from './co-occurrence.js';
import { addPairs, partnerCapacity, SummaryCache } from './partners.js';
import { popularityWrite } from './popularity.js';
import type { RecommendationSettings } from './types.js';

/**
 * Partner summaries kept in memory between batches (SummaryCache): about 2 KB each, so at most
 * about 40 MB, and enough for every product of a catalogue of 10,000.
 */
const CACHED_SUMMARIES = 20_000;

export function createRecommendationsProcessor(settings: RecommendationSettings): Processor {
  const cache = new SummaryCache(CACHED_SUMMARIES);
  const apply = learnFromBatch(settings);
  return {
    name: 'recommendations',
    feed: null,
    follows: [{ log: activityLog }],
    apply: (tx, entries, batch) =>
      apply(
        tx,
        eventsOf(entries, activityLog),
        batch ? { cache: cache.openAt(batch.from), from: batch.from } : undefined,
      ),
    settled: (outcome) => cache.settled(outcome),
  };
}

/** Learns from a batch of logged events inside `tx` and queues their shoppers' lists. */
export function learnFromBatch(settings: RecommendationSettings) {
  const capacity = partnerCapacity(settings);
  return async function applyRecommendations(
    tx: Tx,
    events: readonly InsertedActivityEvent[],
    cached?: { cache: SummaryCache; from: string },
  ): Promise<FeedTopic[]> {
    const users = [...new Set(events.map((e) => e.userId))].sort(compare);
    if (users.length === 0) return [];
    // Invariant 3: the walk reads the shoppers' signals and writes them back; the runner applies
    // one recommendations batch at a time (its processor lock), so no other batch interleaves.
    const prior = await readPriorSignals(tx, events, settings.recentProducts);
    const learned = learnFromActions(prior, events, settings);
    const partners = await addPairs(tx, learned.pairs, capacity, cached?.cache);
    cached?.cache.stage(cached.from, partners.written);
    // The batch's writes in one round trip. The rebuilds are committed with the signals: a
    // builder that sees a queued shopper also sees what it asks for.
    await writeTogether(tx, [
      signalsWrite(learned.signals),
      partners.write,
      popularityWrite(events, settings.weights),
      rebuildsWrite(users),
    ]);
    // Published after COMMIT by the runner: wakes the builders, here and in other processes.
    return ['recommendations:rebuild'];
  };
}

/** Queues shoppers whose lists must be rebuilt (the builder's outbox; no unique key, never waits). */
export async function queueRebuilds(tx: Tx, userIds: readonly string[]): Promise<void> {
  await writeTogether(tx, [rebuildsWrite(userIds)]);
}

function rebuildsWrite(userIds: readonly string[]): Write | null {
  if (userIds.length === 0) return null;
  return { text: 'INSERT INTO recommendation_rebuilds (user_id) SELECT unnest($1::text[])', values: [userIds] };
}
