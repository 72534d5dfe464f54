// Ingest: validate, de-duplicate, and store a batch in ONE transaction together with every
// fact derived from it and the feed rows; wake the feed's readers only after COMMIT.
// So an answered mutation is durable (invariant 1), a repeated eventId changes nothing
// (invariant 2), and a rejected event is reported and dead-lettered, never half-applied (7).
import type pg from 'pg';
import { type Tx, withTransaction } from '../../db/transaction.js';
import type { Fanout } from '../../feed/fanout.js';
import type { FeedTopic } from '../../feed/topics.js';
import { type InsertedActivityEvent, insertActivityEvents } from '../activity/record.js';
import type { ActivityEventInput } from '../activity/types.js';
import type { Clock } from '../clock.js';
import { LimitExceeded } from '../errors.js';
import { storeDeadLetters } from './dead-letters.js';
import type { IngestReport } from './rejections.js';
import { validateActivityEvent, validateBatch } from './validate.js';

/**
 * A stream that derives facts from newly stored activity (stock, sales windows,
 * recommendations). Runs inside the batch's transaction; returns the feed topics it wrote to.
 */
export type ActivityProcessor = (tx: Tx, events: readonly InsertedActivityEvent[]) => Promise<FeedTopic[]>;

export type IngestOptions = {
  pool: pg.Pool;
  fanout: Fanout;
  clock: Clock;
  maxBatchSize: number;
  defaultCurrency: string;
  processors: readonly ActivityProcessor[];
};

export function createActivityIngest(options: IngestOptions) {
  return async function ingestActivity(inputs: readonly ActivityEventInput[]): Promise<IngestReport> {
    checkBatchSize(inputs.length, options.maxBatchSize);
    const context = { defaultCurrency: options.defaultCurrency, now: options.clock.now() };
    const { errors, valid, duplicates } = validateBatch(inputs, (input, index) =>
      validateActivityEvent(input, index, context),
    );

    const { inserted, topics } = await withTransaction(options.pool, async (tx) => {
      await storeDeadLetters(tx, 'activity', errors, inputs);
      const inserted = await insertActivityEvents(tx, valid);
      const topics = new Set<FeedTopic>(inserted.length > 0 ? ['activity:event'] : []);
      for (const process of options.processors) {
        if (inserted.length === 0) break;
        for (const topic of await process(tx, inserted)) topics.add(topic);
      }
      return { inserted, topics };
    });
    // After COMMIT only: a reader woken now finds the rows.
    for (const topic of topics) options.fanout.publish(topic);

    return {
      accepted: inserted.length,
      duplicates: duplicates + valid.length - inserted.length,
      errors,
    };
  };
}

export function checkBatchSize(size: number, max: number): void {
  if (size > max) {
    throw new LimitExceeded(
      'BATCH_TOO_LARGE',
      `a batch may carry at most ${max} events, this one has ${size}; split it (nothing was stored)`,
      { limit: max, size },
    );
  }
}
