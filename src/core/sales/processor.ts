// The sales processor: follows the purchases of the activity log and adds them to their windows
// in event time (aggregate.ts); a late purchase corrects its older window, which is published again.
import { activityLog, PURCHASES_ONLY } from '../activity/log.js';
import { eventsOf, type Processor } from '../processing/runner.js';
import { applySalesWindows } from './aggregate.js';
import { salesFeed } from './feed-source.js';

export const salesProcessor: Processor = {
  name: 'sales',
  feed: salesFeed.table,
  follows: [{ log: activityLog, where: PURCHASES_ONLY }],
  apply: (tx, entries) => applySalesWindows(tx, eventsOf(entries, activityLog)),
};
