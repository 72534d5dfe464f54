// Ingest: validate, de-duplicate, and store a batch in ONE transaction together with every
// fact derived from it and the feed rows; wake the feed's readers only after COMMIT.
// So an answered mutation is durable (invariant 1), a repeated eventId changes nothing
// (invariant 2), and a rejected event is reported and dead-lettered, never half-applied (7).
//
// Batches that arrive while transactions are in flight share the next one (group-commit.ts):
// each is still checked, validated and reported on its own, as if stored one after another.
import type pg from 'pg';
import { type Tx, withTransaction } from '../../db/transaction.js';
import type { Fanout } from '../../feed/fanout.js';
import type { FeedTopic } from '../../feed/topics.js';
import { type InsertedActivityEvent, insertActivityEvents } from '../activity/record.js';
import type { ActivityEventInput, NewActivityEvent } from '../activity/types.js';
import type { Clock } from '../clock.js';
import { InvalidInput, LimitExceeded } from '../errors.js';
import { storeDeadLetters } from './dead-letters.js';
import { createGroupCommit } from './group-commit.js';
import type { IngestReport, Rejection } from './rejections.js';
import { type Validated, validateActivityEvent, validateBatch } from './validate.js';

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
  /** Ingest transactions at once in this process (default DEFAULT_MAX_IN_FLIGHT); the rest group up. */
  maxInFlight?: number;
};

export function createActivityIngest(options: IngestOptions) {
  return createBatchIngest({
    maxBatchSize: options.maxBatchSize,
    maxInFlight: options.maxInFlight,
    validator: () => {
      const context = { defaultCurrency: options.defaultCurrency, now: options.clock.now() };
      return (input: ActivityEventInput, index) => validateActivityEvent(input, index, context);
    },
    commit: (batches) => storeActivityGroup(options, batches),
  });
}

/**
 * The shape every ingest stream shares: check the batch's size, validate it on its own (its
 * indexes, its in-batch duplicates), then hand it to group commit, which stores it with the
 * batches waiting alongside it in one transaction (`commit`).
 */
export function createBatchIngest<Input, Event extends { eventId: string }>(options: {
  maxBatchSize: number;
  maxInFlight?: number;
  /** Called once per batch: the validation of one input, with this batch's context (its "now"). */
  validator: () => (input: Input, index: number) => Validated<Event>;
  commit: (batches: readonly ValidatedBatch<Event>[]) => Promise<IngestReport[]>;
}): (inputs: readonly Input[]) => Promise<IngestReport> {
  const store = createGroupCommit({
    maxInFlight: options.maxInFlight,
    maxGroupSize: options.maxBatchSize,
    sizeOf: (batch: ValidatedBatch<Event>) => batch.inputs.length,
    commit: options.commit,
    isolates: causedByOneBatch,
  });
  return async (inputs) => {
    checkBatchSize(inputs.length, options.maxBatchSize);
    return store({ inputs, ...validateBatch(inputs, options.validator()) });
  };
}

async function storeActivityGroup(
  options: IngestOptions,
  batches: readonly ValidatedBatch<NewActivityEvent>[],
): Promise<IngestReport[]> {
  const { events, owners } = mergeBatches(batches);
  const { inserted, topics } = await withTransaction(options.pool, async (tx) => {
    await storeDeadLetters(tx, 'activity', batches);
    const inserted = await insertActivityEvents(tx, events);
    const topics = new Set<FeedTopic>(inserted.length > 0 ? ['activity:event'] : []);
    for (const process of options.processors) {
      if (inserted.length === 0) break;
      for (const topic of await process(tx, inserted)) topics.add(topic);
    }
    return { inserted, topics };
  });
  // After COMMIT only: a reader woken now finds the rows.
  for (const topic of topics) options.fanout.publish(topic);
  return reportBatches(batches, owners, inserted);
}

/** One caller's batch, validated on its own: indexes in `errors` point into its `inputs`. */
export type ValidatedBatch<Event> = {
  inputs: readonly unknown[];
  errors: Rejection[];
  /** Its valid events, without the ones repeated inside the batch (counted in `duplicates`). */
  valid: Event[];
  duplicates: number;
};

/**
 * The valid events of a group in arrival order (batch 1's, then batch 2's, …), so the feed lists
 * them as they came. The first batch to name an eventId owns it; a later one in the group gets
 * it as a duplicate, exactly as if the batches had been stored one after another.
 */
export function mergeBatches<Event extends { eventId: string }>(
  batches: readonly ValidatedBatch<Event>[],
): { events: Event[]; owners: Map<string, number> } {
  const events: Event[] = [];
  const owners = new Map<string, number>();
  batches.forEach((batch, owner) => {
    for (const event of batch.valid) {
      if (owners.has(event.eventId)) continue;
      owners.set(event.eventId, owner);
      events.push(event);
    }
  });
  return { events, owners };
}

/** Each batch's report: its events the group's INSERT stored are accepted, its other valid ones duplicates. */
export function reportBatches(
  batches: readonly ValidatedBatch<unknown>[],
  owners: ReadonlyMap<string, number>,
  inserted: readonly { eventId: string }[],
): IngestReport[] {
  const accepted = batches.map(() => 0);
  for (const { eventId } of inserted) {
    const owner = owners.get(eventId) as number;
    accepted[owner] = (accepted[owner] as number) + 1;
  }
  return batches.map((batch, i) => ({
    accepted: accepted[i] as number,
    duplicates: batch.duplicates + batch.valid.length - (accepted[i] as number),
    errors: batch.errors,
  }));
}

/**
 * Errors a batch's own events can cause inside the transaction (a stock level out of range, a
 * value PostgreSQL refuses: SQLSTATE classes 22 and 23). A group that fails with one is stored
 * again batch by batch, so only the batch at fault is refused. Anything else (the database is
 * down, a statement is broken) would fail each batch alone too, and fails the whole group.
 */
export function causedByOneBatch(error: unknown): boolean {
  if (error instanceof InvalidInput || error instanceof LimitExceeded) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code);
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
