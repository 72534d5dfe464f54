// A small typed Shopstream client: records activity and inventory, pages the history with cursors,
// then follows two subscriptions from where the pages ended, so it misses nothing in between.
//
//   SHOPSTREAM_URL=http://127.0.0.1:4000/graphql SHOPSTREAM_KEY=<admin key> npx tsx examples/shop-client.ts
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { type Connection, connect, follow, graphql, type ResultOf, request } from './graphql.js';

const RecordActivity = graphql(`
  mutation RecordActivity($events: [ActivityEventInput!]!) {
    recordActivity(events: $events) {
      accepted
      duplicates
      errors { index eventId code message }
    }
  }
`);

const RecordInventory = graphql(`
  mutation RecordInventory($events: [InventoryEventInput!]!) {
    recordInventory(events: $events) {
      accepted
      duplicates
      errors { index eventId code message }
    }
  }
`);

const ActivityHistory = graphql(`
  query ActivityHistory($userId: ID!, $first: Int, $after: String) {
    userActivity(userId: $userId, first: $first, after: $after) {
      edges { node { cursor eventId type productId quantity unitPrice occurredAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const WarningHistory = graphql(`
  query WarningHistory($productIds: [ID!], $after: String) {
    stockWarnings(productIds: $productIds, first: 100, after: $after) {
      edges { node { cursor productId kind quantity threshold } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const ActivityFeed = graphql(`
  subscription ActivityFeed($userId: ID!, $after: String) {
    userActivity(userId: $userId, after: $after) { cursor eventId type productId quantity unitPrice occurredAt }
  }
`);

const WarningFeed = graphql(`
  subscription WarningFeed($productIds: [ID!], $after: String) {
    stockWarnings(productIds: $productIds, after: $after) { cursor productId kind quantity threshold }
  }
`);

export type IngestReport = ResultOf<typeof RecordActivity>['recordActivity'];
export type ActivityEvent = ResultOf<typeof ActivityFeed>['userActivity'];
export type StockWarning = ResultOf<typeof WarningFeed>['stockWarnings'];

export type ExampleOptions = Connection & {
  /** Makes this run's ids unique, so that running it again records new events. */
  runId?: string;
  print?: (line: string) => void;
};

export type ExampleResult = {
  recorded: { activity: IngestReport; inventory: IngestReport };
  /** The shopper's history, read page by page. */
  history: { pages: number; events: ActivityEvent[] };
  /** What the two subscriptions delivered after the history. */
  live: { activity: ActivityEvent[]; warnings: StockWarning[] };
};

export async function runExample(options: ExampleOptions): Promise<ExampleResult> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const run = options.runId ?? randomUUID().slice(0, 8);
  const userId = `shopper-${run}`;
  const mug = `mug-${run}`;
  const lamp = `lamp-${run}`;
  const id = (name: string) => `${run}-${name}`;

  // 1. Record: a batch of activity (one event is invalid on purpose) and the stock of two products.
  const { recordActivity } = await request(options, RecordActivity, {
    events: [
      { eventId: id('browse-mug'), userId, type: 'BROWSE', productId: mug },
      { eventId: id('cart-mug'), userId, type: 'ADD_TO_CART', productId: mug },
      { eventId: id('buy-mug'), userId, type: 'PURCHASE', productId: mug, unitPrice: '12.50', currency: 'USD' },
      { eventId: id('no-price'), userId, type: 'PURCHASE', productId: mug },
      { eventId: id('browse-lamp'), userId, type: 'BROWSE', productId: lamp },
    ],
  });
  print(`recordActivity: ${recordActivity.accepted} accepted, ${recordActivity.duplicates} duplicates`);
  for (const error of recordActivity.errors) print(`  rejected #${error.index} ${error.eventId}: ${error.code}`);

  // The mug is sold out (OUT_OF_STOCK); 40 lamps are in stock.
  const { recordInventory } = await request(options, RecordInventory, {
    events: [
      { eventId: id('count-mug'), productId: mug, quantity: 0 },
      { eventId: id('count-lamp'), productId: lamp, quantity: 40 },
    ],
  });
  print(`recordInventory: ${recordInventory.accepted} accepted, ${recordInventory.errors.length} rejected`);

  // 2. Page the shopper's history, two events a page, oldest first.
  const history: ActivityEvent[] = [];
  let pages = 0;
  let historyEnd: string | null = null;
  for (let hasNextPage = true; hasNextPage; pages++) {
    const { userActivity }: ResultOf<typeof ActivityHistory> = await request(options, ActivityHistory, {
      userId,
      first: 2,
      after: historyEnd,
    });
    for (const { node } of userActivity.edges) {
      history.push(node);
      print(`history page ${pages + 1}: ${node.type} ${node.productId} ×${node.quantity}`);
    }
    historyEnd = userActivity.pageInfo.endCursor ?? historyEnd;
    hasNextPage = userActivity.pageInfo.hasNextPage;
  }

  let warningsEnd: string | null = null;
  for (let hasNextPage = true; hasNextPage; ) {
    const { stockWarnings }: ResultOf<typeof WarningHistory> = await request(options, WarningHistory, {
      productIds: [mug, lamp],
      after: warningsEnd,
    });
    for (const { node } of stockWarnings.edges)
      print(`warning so far: ${node.productId} ${node.kind} (${node.quantity})`);
    warningsEnd = stockWarnings.pageInfo.endCursor ?? warningsEnd;
    hasNextPage = stockWarnings.pageInfo.hasNextPage;
  }

  // 3. Follow both streams from the end of the history. The `after` cursors make this race-free:
  // whatever is committed after them arrives, whether before or after the subscription starts.
  const client = connect(options);
  try {
    const activity = take(follow(client, ActivityFeed, { userId, after: historyEnd }), 2, ({ userActivity }) => {
      print(`live activity: ${userActivity.type} ${userActivity.productId} ×${userActivity.quantity}`);
      return userActivity;
    });
    const warnings = take(
      follow(client, WarningFeed, { productIds: [mug, lamp], after: warningsEnd }),
      2,
      ({ stockWarnings }) => {
        print(`live warning: ${stockWarnings.productId} ${stockWarnings.kind} (${stockWarnings.quantity} left)`);
        return stockWarnings;
      },
    );

    // Two lamps sold, then 35 written off: 3 left, LOW_STOCK. 25 mugs arrive: RESTOCKED.
    await request(options, RecordActivity, {
      events: [
        { eventId: id('browse-lamp-2'), userId, type: 'BROWSE', productId: lamp },
        {
          eventId: id('buy-lamp'),
          userId,
          type: 'PURCHASE',
          productId: lamp,
          quantity: 2,
          unitPrice: '59.00',
          currency: 'USD',
        },
      ],
    });
    await request(options, RecordInventory, {
      events: [
        { eventId: id('write-off-lamp'), productId: lamp, delta: -35 },
        { eventId: id('restock-mug'), productId: mug, delta: 25 },
      ],
    });
    const live = { activity: await activity, warnings: await warnings };
    return {
      recorded: { activity: recordActivity, inventory: recordInventory },
      history: { pages, events: history },
      live,
    };
  } finally {
    await client.dispose();
  }
}

/** The first `count` items of a stream, each passed through `onItem`; leaving the loop ends the subscription. */
async function take<T, U>(items: AsyncIterable<T>, count: number, onItem: (item: T) => U): Promise<U[]> {
  const taken: U[] = [];
  for await (const item of items) {
    taken.push(onItem(item));
    if (taken.length === count) break;
  }
  if (taken.length < count) throw new Error(`the subscription ended after ${taken.length} of ${count} items`);
  return taken;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runExample({
    url: process.env.SHOPSTREAM_URL ?? 'http://127.0.0.1:4000/graphql',
    credential: process.env.SHOPSTREAM_KEY,
  }).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
