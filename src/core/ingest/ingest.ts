// Ingest appends to the log, and nothing more: validate a batch, store its valid events in the
// stream's event table with de-duplication, keep its rejections as dead letters, commit, answer.
// Nothing derived is computed here: the processors follow the log (../processing/runner.ts).
// So an answered mutation is durable (invariant 1), a repeated eventId changes nothing
// (invariant 2), and a rejected event is reported and dead-lettered, never stored (7).
//
// Batches that arrive while appends are in flight share the next one (group-commit.ts). The
// common group is ONE statement (INSERT … ON CONFLICT DO NOTHING, atomic on its own); dead
// letters add a transaction around two, and resent eventIds one read to compare their content.
import { type Context, context, type Link, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type pg from 'pg';
import { withTransaction } from '../../db/transaction.js';
import type { Position } from '../../feed/cursor.js';
import type { Fanout } from '../../feed/fanout.js';
import type { Queryable } from '../../feed/feed.js';
import type { FeedTopic } from '../../feed/topics.js';
import type { Clock } from '../clock.js';
import { InvalidInput, LimitExceeded } from '../errors.js';
import { maxPosition } from '../processing/log.js';
import { type IngestStream, storeDeadLetters } from './dead-letters.js';
import { createGroupCommit } from './group-commit.js';
import type { IngestReport, Rejection } from './rejections.js';
import { conflict, type Validated, validateBatch } from './validate.js';

/** An event as the log stored it. */
export type Logged = { eventId: string; position: Position };

/** How one stream appends to its log: each stream declares its own (core/<stream>/record.ts). */
export type LogAppender<Event extends { eventId: string }> = {
  stream: IngestStream;
  /** Published after COMMIT: wakes the stream's processors and feed readers, here and elsewhere. */
  topic: FeedTopic;
  /** Stores the events whose eventId is new, in one statement; returns those it stored. */
  insert(db: Queryable, events: readonly Event[]): Promise<Logged[]>;
  /** The stored events with these eventIds, for comparing a resent event with the original. */
  readStored(db: Queryable, eventIds: readonly string[]): Promise<Map<string, Event & Logged>>;
  /** Same content: a resend is a duplicate. Otherwise the eventId was reused: EVENT_ID_CONFLICT. */
  sameContent(stored: Event, resent: Event): boolean;
};

export type LogIngestOptions<Input, Event extends { eventId: string }> = {
  pool: pg.Pool;
  fanout: Fanout;
  clock: Clock;
  maxBatchSize: number;
  /** Appends at once in this process (default DEFAULT_MAX_IN_FLIGHT); the rest group up. */
  maxInFlight?: number;
  /** The validation of one input, with this batch's "now". */
  validate: (input: Input, index: number, now: Date) => Validated<Event>;
  appender: LogAppender<Event>;
};

/**
 * The shape every ingest stream shares: check the batch's size, validate it on its own (its
 * indexes, its in-batch duplicates and conflicts), then hand it to group commit, which appends it
 * with the batches waiting alongside it.
 */
export function createLogIngest<Input, Event extends { eventId: string }>(
  options: LogIngestOptions<Input, Event>,
): (inputs: readonly Input[]) => Promise<IngestReport> {
  const store = createGroupCommit({
    maxInFlight: options.maxInFlight,
    maxGroupSize: options.maxBatchSize,
    sizeOf: (batch: ValidatedBatch<Event>) => batch.inputs.length,
    commit: (batches: readonly ValidatedBatch<Event>[]) =>
      inCommitSpan(options.appender.stream, batches, () => appendGroup(options, batches)),
    isolates: causedByOneBatch,
  });
  const { sameContent } = options.appender;
  return async (inputs) => {
    checkBatchSize(inputs.length, options.maxBatchSize);
    const now = options.clock.now();
    return store({
      inputs,
      ...validateBatch(inputs, (input, index) => options.validate(input, index, now), sameContent),
      traceContext: context.active(),
    });
  };
}

/** One caller's batch, validated on its own: indexes in `errors` point into its `inputs`. */
export type ValidatedBatch<Event> = {
  inputs: readonly unknown[];
  errors: Rejection[];
  /** Its valid events, without the ones repeated inside the batch (counted in `duplicates`). */
  valid: Event[];
  /** Where each of `valid` stands in `inputs`. */
  indexes: number[];
  duplicates: number;
  /** The caller's trace context: its group's commit span goes under it (tracing on). */
  traceContext?: Context;
};

/**
 * The group's append as a span under the first batch's operation, linked to the others'. With
 * tracing off (no provider registered) OpenTelemetry's API makes this a no-op span.
 */
function inCommitSpan<T>(
  stream: IngestStream,
  batches: readonly ValidatedBatch<unknown>[],
  append: () => Promise<T>,
): Promise<T> {
  const links: Link[] = [];
  for (const batch of batches.slice(1)) {
    const linked = batch.traceContext && trace.getSpanContext(batch.traceContext);
    if (linked) links.push({ context: linked });
  }
  const attributes = {
    'db.system.name': 'postgresql',
    'shopstream.stream': stream,
    'shopstream.batches': batches.length,
    'shopstream.events': batches.reduce((sum, b) => sum + b.inputs.length, 0),
  };
  // Looked up per call: a tracer kept from before tracing started would stay a no-op.
  return trace
    .getTracer('shopstream')
    .startActiveSpan(
      `ingest.commit ${stream}`,
      { kind: SpanKind.CLIENT, attributes, links },
      batches[0]?.traceContext ?? context.active(),
      async (span) => {
        try {
          return await append();
        } catch (error) {
          span.recordException(error instanceof Error ? error : String(error));
          span.setStatus({ code: SpanStatusCode.ERROR });
          throw error;
        } finally {
          span.end();
        }
      },
    );
}

async function appendGroup<Input, Event extends { eventId: string }>(
  options: LogIngestOptions<Input, Event>,
  batches: readonly ValidatedBatch<Event>[],
): Promise<IngestReport[]> {
  const { appender, pool } = options;
  const { events, owners } = mergeBatches(batches, appender.sameContent);
  const rejected = batches.some((b) => b.errors.length > 0);
  // One atomic statement when there is nothing to dead-letter: no BEGIN, no COMMIT round trips.
  const inserted = !rejected
    ? await appender.insert(pool, events)
    : await withTransaction(pool, async (tx) => {
        await storeDeadLetters(tx, appender.stream, batches);
        return appender.insert(tx, events);
      });
  const logged = new Map(inserted.map((e) => [e.eventId, e.position]));

  // Resent eventIds: the same content is a duplicate, other content a conflict (never stored).
  const conflicts: ValidatedBatch<Event>[] = [];
  if (inserted.length < events.length) {
    const resent = events.filter((e) => !logged.has(e.eventId));
    const stored = await appender.readStored(
      pool,
      resent.map((e) => e.eventId),
    );
    for (const event of resent) {
      const original = stored.get(event.eventId);
      if (!original) continue; // cannot happen: ON CONFLICT skipped it, so a committed row exists
      const owner = owners.get(event.eventId) as { batch: number; index: number };
      if (appender.sameContent(original, event)) {
        logged.set(event.eventId, original.position);
        continue;
      }
      const batch = batches[owner.batch] as ValidatedBatch<Event>;
      batch.errors.push(
        conflict(owner.index, event.eventId, `position ${original.position.txId}:${original.position.seq} of the log`),
      );
      conflicts.push({ ...batch, errors: batch.errors.slice(-1) });
    }
    if (conflicts.length > 0) await withTransaction(pool, (tx) => storeDeadLetters(tx, appender.stream, conflicts));
  }
  // After COMMIT only: a reader woken now finds the rows.
  if (inserted.length > 0) options.fanout.publish(appender.topic);
  return reportBatches(batches, owners, new Set(inserted.map((e) => e.eventId)), logged);
}

/**
 * The valid events of a group in arrival order (batch 1's, then batch 2's, …), so the log lists
 * them as they came. The first batch to name an eventId owns it; a later one in the group gets it
 * as a duplicate (same content) or a conflict (other content), exactly as if the batches had been
 * stored one after another. Conflicts are added to their batch's errors.
 */
export function mergeBatches<Event extends { eventId: string }>(
  batches: readonly ValidatedBatch<Event>[],
  sameContent: (a: Event, b: Event) => boolean,
): { events: Event[]; owners: Map<string, { batch: number; index: number }> } {
  const events: Event[] = [];
  const owners = new Map<string, { batch: number; index: number }>();
  const firsts = new Map<string, Event>();
  batches.forEach((batch, owner) => {
    const keep: boolean[] = [];
    batch.valid.forEach((event, i) => {
      const index = batch.indexes[i] as number;
      const first = firsts.get(event.eventId);
      if (!first) {
        firsts.set(event.eventId, event);
        owners.set(event.eventId, { batch: owner, index });
        events.push(event);
        keep.push(true);
        return;
      }
      if (sameContent(first, event)) {
        keep.push(true); // a duplicate of the earlier batch's event
        return;
      }
      const earlier = owners.get(event.eventId) as { batch: number; index: number };
      batch.errors.push(conflict(index, event.eventId, `index ${earlier.index} of a batch sent at the same time`));
      keep.push(false);
    });
    if (keep.includes(false)) {
      batch.indexes = batch.indexes.filter((_, i) => keep[i]);
      batch.valid = batch.valid.filter((_, i) => keep[i]);
    }
  });
  return { events, owners };
}

/**
 * Each batch's report: its events this group stored are accepted, its other valid ones are
 * duplicates; its position is the last log position of its events, stored now or before.
 */
export function reportBatches(
  batches: readonly ValidatedBatch<{ eventId: string }>[],
  owners: ReadonlyMap<string, { batch: number }>,
  inserted: ReadonlySet<string>,
  logged: ReadonlyMap<string, Position>,
): IngestReport[] {
  return batches.map((batch, i) => {
    let accepted = 0;
    let duplicates = batch.duplicates;
    let position: Position | null = null;
    for (const { eventId } of batch.valid) {
      const at = logged.get(eventId);
      if (!at) continue; // rejected as a conflict after the insert
      if (inserted.has(eventId) && owners.get(eventId)?.batch === i) accepted++;
      else duplicates++;
      position = position === null ? at : maxPosition(position, at);
    }
    batch.errors.sort((a, b) => a.index - b.index);
    return { accepted, duplicates, errors: batch.errors, position };
  });
}

/**
 * Errors a batch's own events can cause in the statement (a value PostgreSQL refuses: SQLSTATE
 * classes 22 and 23). A group that fails with one is stored again batch by batch, so only the
 * batch at fault is refused. Anything else (the database is down, a statement is broken) would
 * fail each batch alone too, and fails the whole group.
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
