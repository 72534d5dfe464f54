// How recordProducts appends to the catalogue log (the statements: ../ingest/log-table.ts).
import { logAppender } from '../ingest/log-table.js';
import { catalogueLog } from './log.js';

export const catalogueAppender = logAppender(
  catalogueLog,
  'catalogue:event',
  (stored, resent) =>
    stored.productId === resent.productId &&
    stored.name === resent.name &&
    stored.category === resent.category &&
    stored.listPriceMinor === resent.listPriceMinor &&
    stored.currency === resent.currency &&
    (resent.timeDefaulted === true || stored.occurredAt.getTime() === resent.occurredAt.getTime()),
);
