// How recordActivity appends to the activity log (the statements: ../ingest/log-table.ts).
import { logAppender } from '../ingest/log-table.js';
import { activityLog } from './log.js';
import type { NewActivityEvent } from './types.js';

export type InsertedActivityEvent = NewActivityEvent & { txId: bigint; seq: bigint };

export const activityAppender = logAppender(
  activityLog,
  'activity:event',
  (stored, resent) =>
    stored.userId === resent.userId &&
    stored.type === resent.type &&
    stored.productId === resent.productId &&
    stored.quantity === resent.quantity &&
    stored.unitPriceMinor === resent.unitPriceMinor &&
    stored.currency === resent.currency &&
    stored.orderId === resent.orderId &&
    // A resend that leaves occurredAt out gets a new arrival time: compare only what was sent.
    (resent.timeDefaulted === true || stored.occurredAt.getTime() === resent.occurredAt.getTime()),
);
