// The processing core as the API sees it: plain functions over plain data. Knows nothing of
// GraphQL; tests call it directly.
import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { decodeCursor } from '../feed/cursor.js';
import type { Fanout } from '../feed/fanout.js';
import type { Feed } from '../feed/follow.js';
import { activityFeed } from './activity/feed-source.js';
import { readActivityPage } from './activity/history.js';
import type { ActivityEventInput, ActivityFilter } from './activity/types.js';
import type { Clock } from './clock.js';
import { Unavailable } from './errors.js';
import { type IngestStream, listDeadLetters } from './ingest/dead-letters.js';
import { createActivityIngest } from './ingest/ingest.js';

export type CoreOptions = {
  db: Db;
  feed: Feed;
  fanout: Fanout;
  clock: Clock;
  config: Pick<Config, 'ingest' | 'inventory'>;
};

export type Core = ReturnType<typeof createCore>;

export function createCore({ db, feed, fanout, clock, config }: CoreOptions) {
  const writes = trackWrites();
  const ingestActivity = createActivityIngest({
    pool: db.pool,
    fanout,
    clock,
    maxBatchSize: config.ingest.maxBatchSize,
    defaultCurrency: config.ingest.defaultCurrency,
    processors: [],
  });

  return {
    ingestActivity: (events: readonly ActivityEventInput[]) => writes.run(() => ingestActivity(events)),

    userActivity: (filter: ActivityFilter, page: { first?: number | null; after?: string | null }) =>
      readActivityPage(db.pool, filter, page),

    followUserActivity: (filter: ActivityFilter, after?: string | null) =>
      feed.follow(activityFeed, { filter, after: after ? decodeCursor(after) : null }),

    deadLetters: (options: { stream?: IngestStream | null; first?: number | null; before?: string | null }) =>
      listDeadLetters(db.prisma, options),

    /** Refuse new writes and wait for the ones in flight (graceful shutdown). */
    drain: () => writes.drain(),
  };
}

/** Counts writes in flight so that shutdown can let them finish; refuses new ones after drain(). */
function trackWrites() {
  let inFlight = 0;
  let draining = false;
  let idle: (() => void) | null = null;
  return {
    async run<T>(write: () => Promise<T>): Promise<T> {
      if (draining)
        throw new Unavailable('the server is shutting down; send this batch again to another instance or later');
      inFlight++;
      try {
        return await write();
      } finally {
        inFlight--;
        if (inFlight === 0) idle?.();
      }
    },
    drain(): Promise<void> {
      draining = true;
      if (inFlight === 0) return Promise.resolve();
      return new Promise((resolve) => {
        idle = resolve;
      });
    },
  };
}
