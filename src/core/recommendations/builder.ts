// Builds the recommendation lists of the shoppers queued in recommendation_rebuilds (by the
// recommendations processor's batch, see processor.ts), outside that batch. One builder runs in every
// server process, woken by 'recommendations:rebuild' (published after each such COMMIT), by a
// poll timer, and once at start. Each chunk, in ONE transaction: claim up to BUILD_CHUNK queued
// rows (FOR UPDATE SKIP LOCKED), take the build lock of each of their shoppers (in one order),
// delete their queued rows, then read and rank their lists and store the changed ones; COMMIT,
// then publish 'recommendations:list' if a list changed. Under load this conflates: a shopper
// queued by many batches is built once.
//
// Why a stored list is never stale for long, nor overwrites a newer one:
// - The rows are deleted only in the transaction that stores the lists, and the lists are read
//   after the rows were seen committed. A batch that commits after our read queued a row we did
//   not claim (or delete), so its shopper is built again. A crash rolls the delete back: the rows
//   stay, and another process (or this one after restart) builds them.
// - Two builders on one shopper serialise on the shopper's build lock, and every read happens
//   after taking it, so the one that stores later also read later.
// - A processor batch never waits for a builder (it takes no build lock), and a builder reads
//   only committed signals (no lock needed for that).
// - A builder never waits for a row another builder holds (SKIP LOCKED everywhere), so builders
//   wait only on build locks, taken in one order: no deadlock.
// - Products at 0 or less are left out (lists.ts). After computing its lists, a build takes the
//   stock lock shared and rechecks their products' levels (queueing its shoppers again if one ran
//   out); a batch in which a product runs out waits for that short phase, then finds the stored
//   list among those to rebuild (stock.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { withTransaction } from '../../db/transaction.js';
import type { Fanout } from '../../feed/fanout.js';
import { markWritesOnly } from '../../feed/feed.js';
import type { Logger } from '../../log.js';
import type { Clock } from '../clock.js';
import { compare } from './co-occurrence.js';
import { recommendationFeed } from './feed-source.js';
import { computeLists, storeChangedLists } from './lists.js';
import { queueRebuilds } from './processor.js';
import { lockStockForBuild, shoppersHoldingOutOfStock } from './stock.js';
import type { RecommendationSettings } from './types.js';

/**
 * Rows claimed per transaction: bounds how long one build holds its locks and its xid, and how
 * long its ranking keeps the event loop (at 1,000 events/s, 100 instead of 500 cut the p99
 * processing lag of stock warnings by about a third).
 */
export const BUILD_CHUNK = 100;
/** Heals lost wake-ups and picks up rows queued by other processes (or left by a crash). */
export const BUILD_POLL_INTERVAL_MS = 1000;
/**
 * Woken again while a pass ran: wait this long before the next one. Under a stream of batches a
 * shopper's events then collapse into one build instead of one per batch, and the builder leaves
 * the CPU to the processors (measured at 1,000 events/s: the stock warnings' median lag fell by
 * about a third). The first pass after an idle spell starts at once.
 */
export const BUILD_LINGER_MS = 200;

export type RecommendationBuilderOptions = {
  pool: pg.Pool;
  fanout: Fanout;
  clock: Clock;
  settings: RecommendationSettings;
  log: Logger;
  chunkSize?: number;
  pollIntervalMs?: number;
  lingerMs?: number;
};

export type RecommendationBuilder = {
  /** Subscribes to wake-ups, starts the poll timer and runs a first pass. */
  start(): void;
  /** Runs passes until this process sees no unclaimed queued row; rejects if the last pass failed. */
  settle(): Promise<void>;
  /** Stops waking and waits for the pass in progress; queued rows stay for the next builder. */
  stop(): Promise<void>;
};

export function createRecommendationBuilder(options: RecommendationBuilderOptions): RecommendationBuilder {
  const chunkSize = options.chunkSize ?? BUILD_CHUNK;
  const pollIntervalMs = options.pollIntervalMs ?? BUILD_POLL_INTERVAL_MS;
  const lingerMs = options.lingerMs ?? BUILD_LINGER_MS;
  let running: Promise<void> | null = null;
  let again = false;
  let lastError: unknown = null;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let unsubscribe: (() => void) | null = null;

  /** One transaction; returns how many rows it claimed. */
  const buildChunk = async (): Promise<number> => {
    const { claimed, changed, requeued } = await withTransaction(options.pool, async (tx) => {
      // Claiming rows gives the transaction an id, so the lists' horizon waits for it: a chunk is
      // bounded to keep that short (readers retry soon when rows are held back). It writes no log
      // table and no other feed, so it is marked: the processors and the other feeds' readers do
      // not wait for it.
      await tx.query(`SELECT ${markWritesOnly(recommendationFeed.table)}`);
      const { rows } = await tx.query(
        `SELECT id, user_id FROM recommendation_rebuilds ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [chunkSize],
      );
      if (rows.length === 0) return { claimed: 0, changed: 0, requeued: 0 };
      const users = [...new Set(rows.map((row) => row.user_id as string))].sort(compare);
      await tx.query(
        `SELECT pg_advisory_xact_lock(k) FROM (
           SELECT DISTINCT hashtextextended('recommendations:build:' || u, 0) AS k
             FROM unnest($1::text[]) AS u ORDER BY k
         ) locks`,
        [users],
      );
      // The claimed rows, and (conflation) these shoppers' other rows committed so far: the lists
      // are read below, after this statement's snapshot, so this build covers them too. Rows
      // another builder holds are skipped; it builds those shoppers again, harmlessly, after us.
      await tx.query(
        `DELETE FROM recommendation_rebuilds r USING (
           SELECT id FROM recommendation_rebuilds WHERE user_id = ANY($1::text[]) FOR UPDATE SKIP LOCKED
         ) mine WHERE r.id = mine.id`,
        [users],
      );
      const now = options.clock.now();
      const lists = await computeLists(tx, users, now, options.settings);
      // A product may have run out since the lists were read: queue those shoppers again.
      await lockStockForBuild(tx);
      const stale = await shoppersHoldingOutOfStock(tx, lists);
      await queueRebuilds(tx, stale);
      const changed = await storeChangedLists(tx, lists, now);
      return { claimed: rows.length, changed, requeued: stale.length };
    });
    // After COMMIT only, like every other feed write.
    if (changed > 0) options.fanout.publish('recommendations:list');
    if (requeued > 0) options.fanout.publish('recommendations:rebuild');
    return claimed;
  };

  /** Claims chunks while they come back full. */
  const drain = async (): Promise<void> => {
    lastError = null;
    try {
      let claimed = chunkSize;
      while (!stopped && claimed === chunkSize) claimed = await buildChunk();
    } catch (error) {
      // The rows stay queued; the next wake-up or poll tries again.
      lastError = error;
      options.log.warn({ err: error }, 'recommendation lists not rebuilt; retrying on the next wake-up');
    }
  };

  /** Runs a pass, or folds into the one in progress (which then runs once more). */
  const wake = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await drain();
          if (again && !stopped && lingerMs > 0) await sleep(lingerMs);
        } while (again && !stopped);
      } finally {
        running = null;
      }
    })();
    return running;
  };

  return {
    start() {
      if (stopped || timer) return;
      unsubscribe = options.fanout.subscribe('recommendations:rebuild', () => void wake());
      timer = setInterval(() => void wake(), pollIntervalMs);
      timer.unref();
      void wake();
    },
    async settle() {
      await wake();
      if (lastError) throw lastError;
    },
    async stop() {
      stopped = true;
      unsubscribe?.();
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
