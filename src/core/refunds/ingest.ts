// recordRefunds: the ingest rules of every stream (validation, eventIds, group commit, dead
// letters, reports: ../ingest/ingest.ts), plus the one check a refund needs from the database.
// Decided (issue 16): the check is made by the ingest transaction, against the purchases and
// refunds stored when it runs, under a lock per order line (order-lines.ts). So the log holds only
// refunds that fit their line, the caller learns of an over-refund in the mutation's own answer,
// and the processors (sales, inventory) apply every refund they read without judging it again.
// A group that holds refunds always runs in one transaction: locks, dead letters, append.
import type pg from 'pg';
import { withTransaction } from '../../db/transaction.js';
import type { Fanout } from '../../feed/fanout.js';
import type { Clock } from '../clock.js';
import { storeDeadLetters } from '../ingest/dead-letters.js';
import { createGroupCommit } from '../ingest/group-commit.js';
import {
  causedByOneBatch,
  checkBatchSize,
  type Logged,
  mergeBatches,
  reportBatches,
  type ValidatedBatch,
} from '../ingest/ingest.js';
import type { IngestReport, Rejection } from '../ingest/rejections.js';
import { conflict, rejecter, validateBatch } from '../ingest/validate.js';
import { refundLog, sameRefund } from './log.js';
import { checkRefunds, lockOrderLines } from './order-lines.js';
import type { NewRefundEvent, RefundEventInput } from './types.js';
import { validateRefundEvent } from './validate.js';

export type RefundIngestOptions = {
  pool: pg.Pool;
  fanout: Fanout;
  clock: Clock;
  maxBatchSize: number;
  defaultCurrency: string;
  maxInFlight?: number;
};

export function createRefundIngest(
  options: RefundIngestOptions,
): (inputs: readonly RefundEventInput[]) => Promise<IngestReport> {
  const store = createGroupCommit({
    maxInFlight: options.maxInFlight,
    maxGroupSize: options.maxBatchSize,
    sizeOf: (batch: ValidatedBatch<NewRefundEvent>) => batch.inputs.length,
    commit: (batches: readonly ValidatedBatch<NewRefundEvent>[]) => appendRefunds(options, batches),
    isolates: causedByOneBatch,
  });
  return async (inputs) => {
    checkBatchSize(inputs.length, options.maxBatchSize);
    const now = options.clock.now();
    const context = { defaultCurrency: options.defaultCurrency, now };
    return store({
      inputs,
      ...validateBatch(inputs, (input, index) => validateRefundEvent(input, index, context), sameRefund),
    });
  };
}

async function appendRefunds(
  options: RefundIngestOptions,
  batches: readonly ValidatedBatch<NewRefundEvent>[],
): Promise<IngestReport[]> {
  const { pool } = options;
  const { events, owners } = mergeBatches(batches, sameRefund);
  // Retried whole on a deadlock: nothing outside is changed until it has committed.
  const { inserted, refusals } = await withTransaction(pool, async (tx) => {
    const facts = await lockOrderLines(tx, events);
    // A refund already stored is a duplicate or a conflict (sorted out below), never checked again:
    // it is already counted in its line's refunds.
    const stored = await refundLog.readStored(
      tx,
      events.map((e) => e.eventId),
    );
    const refusals = refusalsByBatch(
      batches,
      checkRefunds(
        events.filter((e) => !stored.has(e.eventId)),
        facts,
      ),
    );
    await storeDeadLetters(
      tx,
      'refunds',
      batches.map((batch, i) => ({ errors: [...batch.errors, ...(refusals[i] ?? [])], inputs: batch.inputs })),
    );
    const refused = new Set(refusals.flat().map((r) => r.eventId));
    const inserted = await refundLog.insert(
      tx,
      events.filter((e) => !stored.has(e.eventId) && !refused.has(e.eventId)),
    );
    return { inserted, refusals };
  });
  const refused = new Set<string | null>();
  batches.forEach((batch, i) => {
    const mine = refusals[i] ?? [];
    if (mine.length === 0) return;
    batch.errors.push(...mine);
    for (const r of mine) refused.add(r.eventId);
  });
  const logged = new Map(inserted.map((e) => [e.eventId, e.position]));

  // Resent eventIds: the same content is a duplicate, other content a conflict (never stored).
  const resent = events.filter((e) => !logged.has(e.eventId) && !refused.has(e.eventId));
  if (resent.length > 0) await sortOutResent(pool, batches, owners, resent, logged);
  // After COMMIT only: a processor woken now finds the rows.
  if (inserted.length > 0) options.fanout.publish('refunds:event');
  return reportBatches(batches, owners, new Set(inserted.map((e) => e.eventId)), logged);
}

/** The refusals of each batch, one per refused event it holds (an eventId may be in several batches of a group). */
function refusalsByBatch(
  batches: readonly ValidatedBatch<NewRefundEvent>[],
  refused: ReadonlyMap<string, { code: Rejection['code']; detail: string }>,
): Rejection[][] {
  return batches.map((batch) => {
    const rejections: Rejection[] = [];
    if (refused.size === 0) return rejections;
    batch.valid.forEach((event, i) => {
      const refusal = refused.get(event.eventId);
      if (!refusal) return;
      const result = rejecter(batch.indexes[i] as number, event.eventId)(refusal.code, undefined, refusal.detail);
      if (!result.ok) rejections.push(result.rejection);
    });
    return rejections;
  });
}

/** As ../ingest/ingest.ts does for every log: a resend of the same content is a duplicate; other content is EVENT_ID_CONFLICT. */
async function sortOutResent(
  pool: pg.Pool,
  batches: readonly ValidatedBatch<NewRefundEvent>[],
  owners: ReadonlyMap<string, { batch: number; index: number }>,
  resent: readonly NewRefundEvent[],
  logged: Map<string, Logged['position']>,
): Promise<void> {
  const stored = await refundLog.readStored(
    pool,
    resent.map((e) => e.eventId),
  );
  const conflicts: { errors: Rejection[]; inputs: readonly unknown[] }[] = [];
  for (const event of resent) {
    const original = stored.get(event.eventId);
    if (!original) continue; // cannot happen: ON CONFLICT skipped it, so a committed row exists
    if (sameRefund(original, event)) {
      logged.set(event.eventId, original.position);
      continue;
    }
    const owner = owners.get(event.eventId) as { batch: number; index: number };
    const batch = batches[owner.batch] as ValidatedBatch<NewRefundEvent>;
    const rejection = conflict(
      owner.index,
      event.eventId,
      `position ${original.position.txId}:${original.position.seq} of the log`,
    );
    batch.errors.push(rejection);
    conflicts.push({ errors: [rejection], inputs: batch.inputs });
  }
  if (conflicts.length > 0) await withTransaction(pool, (tx) => storeDeadLetters(tx, 'refunds', conflicts));
}
