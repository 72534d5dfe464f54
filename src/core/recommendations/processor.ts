// The recommendations stream's part of an ingest batch, inside its transaction: learn signals,
// pairs and popularity from the new events, then rebuild the lists of the shoppers the batch
// touched and re-stamp those that changed. A fixed number of set-based statements per batch.
import type { Tx } from '../../db/transaction.js';
import type { FeedTopic } from '../../feed/topics.js';
import type { InsertedActivityEvent } from '../activity/record.js';
import type { Clock } from '../clock.js';
import { addPairs, compare, learnFromActions, readPriorSignals, writeSignals } from './co-occurrence.js';
import { computeLists, storeChangedLists } from './lists.js';
import { addPopularity } from './popularity.js';
import type { RecommendationSettings } from './types.js';

export function createRecommendationsProcessor(settings: RecommendationSettings, clock: Clock) {
  return async function applyRecommendations(tx: Tx, events: readonly InsertedActivityEvent[]): Promise<FeedTopic[]> {
    const users = [...new Set(events.map((e) => e.userId))].sort(compare);
    // Invariant 3: one batch at a time per shopper. The walk reads the shopper's signals and
    // writes them back, and a list built from a snapshot must not overwrite a newer one. Locks
    // are taken in one order, so two batches with the same shoppers wait instead of deadlocking.
    await tx.query(
      `SELECT pg_advisory_xact_lock(k) FROM (
         SELECT DISTINCT hashtextextended('recommendations:' || u, 0) AS k FROM unnest($1::text[]) AS u ORDER BY k
       ) locks`,
      [users],
    );
    const prior = await readPriorSignals(tx, events, settings.recentProducts);
    const learned = learnFromActions(prior, events, settings);
    await writeSignals(tx, learned.signals);
    await addPairs(tx, learned.pairs);
    await addPopularity(tx, events, settings.weights);
    const now = clock.now();
    const changed = await storeChangedLists(tx, await computeLists(tx, users, now, settings), now);
    return changed > 0 ? ['recommendations:list'] : [];
  };
}
