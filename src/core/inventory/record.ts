// How recordInventory appends to the inventory log (the statements: ../ingest/log-table.ts).
import { logAppender } from '../ingest/log-table.js';
import { inventoryLog } from './log.js';

export const inventoryAppender = logAppender(
  inventoryLog,
  'inventory:event',
  (stored, resent) =>
    stored.productId === resent.productId &&
    stored.quantity === resent.quantity &&
    stored.delta === resent.delta &&
    // A resend that leaves occurredAt out gets a new arrival time: compare only what was sent.
    (resent.timeDefaulted === true || stored.occurredAt.getTime() === resent.occurredAt.getTime()),
);
