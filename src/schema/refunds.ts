// Refunds and returns: recordRefunds. Their effects show in sales windows (refunds, netRevenue)
// and, for restocked units, in stock levels, warnings and stockMovements (RETURN).
import { builder } from './builder.js';
import { ingestMutation } from './ingest.js';

const RefundEventInput = builder.inputType('RefundEventInput', {
  description:
    'Gives back part or all of an order line: the purchases (recordActivity) with this orderId and productId.',
  fields: (t) => ({
    eventId: t.id({
      required: true,
      description: 'Chosen by the sender, unique per refund. A repeat is a duplicate and changes nothing.',
    }),
    orderId: t.id({ required: true }),
    productId: t.id({ required: true }),
    quantity: t.int({
      required: true,
      description: 'Units refunded, 0 (money only, e.g. a price adjustment) to 1000000.',
    }),
    amount: t.field({
      type: 'Money',
      required: true,
      description: 'Money given back, e.g. "19.99", at least 0, with the currency’s decimals at most.',
    }),
    currency: t.string({
      description: "ISO 4217; default DEFAULT_CURRENCY. Must be the order line's currency.",
    }),
    restock: t.boolean({
      required: true,
      description:
        'The units go back to stock (a return): they raise the level like any other change, with the same warnings, and show in stockMovements as RETURN.',
    }),
    occurredAt: t.field({
      type: 'DateTime',
      description: 'When it happened; default: when it arrived. The refund counts in the sales window of this time.',
    }),
  }),
});

ingestMutation(
  'recordRefunds',
  RefundEventInput,
  'Validates a batch of refunds and appends the valid ones to the refunds log in one transaction. Each is checked against its order line as stored when it arrives: no stored purchase (UNKNOWN_ORDER_LINE), another currency (CURRENCY_MISMATCH), or more units or money than the line sold, counting its earlier refunds (REFUND_EXCEEDS_SALE), is rejected by index, dead-lettered, and changes nothing. Answers at commit (ack STORED) or once sales windows and stock reflect it (ack PROCESSED, the default).',
  (core) => core.ingestRefunds,
);
