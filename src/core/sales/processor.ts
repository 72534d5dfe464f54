// The sales processor: follows the purchases of the activity log and adds them to their windows
// in event time (aggregate.ts); a late purchase corrects its older window, which is published again.
// The orderIds it remembers to count each order once are kept until the latest sale is
// SALES_ORDER_LATENESS_HOURS past their window's end, then pruned in the same transactions.
// HOUR and DAY windows follow the shop's clock (SHOP_TIME_ZONE; window.ts).
// It follows the refunds log too: each refund counts in the window of its own event time (issue
// 16). Refunds were checked against their order line when appended (refunds/ingest.ts).
import { activityLog, PURCHASES_ONLY } from '../activity/log.js';
import { eventsOf, type Processor } from '../processing/runner.js';
import { refundLog } from '../refunds/log.js';
import { applySalesWindows } from './aggregate.js';
import { salesFeed } from './feed-source.js';
import { createShopCalendar } from './window.js';

export function createSalesProcessor(settings: { orderLatenessHours: number; shopTimeZone?: string }): Processor {
  const options = {
    orderLatenessHours: settings.orderLatenessHours,
    calendar: createShopCalendar(settings.shopTimeZone),
  };
  return {
    name: 'sales',
    feed: salesFeed.table,
    follows: [{ log: activityLog, where: PURCHASES_ONLY }, { log: refundLog }],
    apply: (tx, entries) =>
      applySalesWindows(tx, eventsOf(entries, activityLog), options, eventsOf(entries, refundLog)),
  };
}
