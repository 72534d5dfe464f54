// Live stock levels for product pages (the stockLevels subscription). Levels change inside the
// inventory processor's batches (and setStockThreshold), which wake 'processing:checkpoint' and
// 'inventory:warning' after COMMIT. One watch per process serves every subscriber: on a wake-up
// (or every pollIntervalMs, for a lost one) it reads the levels of every watched product in one
// query and offers each subscriber those of its products. A subscriber keeps only the latest
// level per product not yet sent (conflated), and never gets a level equal to the last one sent.
import type { Fanout } from '../../feed/fanout.js';
import type { Queryable } from '../../feed/feed.js';
import type { Logger } from '../../log.js';
import { InvalidInput, Unavailable } from '../errors.js';
import { MAX_PRODUCT_IDS } from './queries.js';
import type { StockLevel } from './types.js';

export type StockLevelWatch = {
  /** The current level of each product, then each new level as it changes. */
  follow(productIds: readonly string[]): AsyncIterableIterator<StockLevel>;
  /** Ends every stream (shutdown). */
  close(): void;
};

export function createStockLevelWatch(options: {
  db: Queryable;
  fanout: Fanout;
  defaultThreshold: number;
  pollIntervalMs: number;
  log: Logger;
}): StockLevelWatch {
  const streams = new Set<LevelStream>();
  let closed = false;
  let reading: Promise<void> | null = null;
  let again = false;
  let unsubscribe: (() => void)[] = [];
  let timer: NodeJS.Timeout | null = null;

  async function refresh(): Promise<void> {
    do {
      again = false;
      const ids = new Set<string>();
      for (const stream of streams) for (const id of stream.productIds) ids.add(id);
      if (ids.size === 0) return;
      try {
        const levels = await readLevels(options.db, [...ids], options.defaultThreshold);
        for (const stream of streams) stream.offer(levels);
      } catch (error) {
        // The next wake-up or tick reads again; subscribers just wait.
        options.log.warn({ err: error }, 'reading stock levels for subscribers failed');
        return;
      }
    } while (again && !closed);
  }

  function wake(): void {
    if (closed || streams.size === 0) return;
    if (reading) {
      again = true;
      return;
    }
    reading = refresh().finally(() => {
      reading = null;
    });
  }

  function watching(on: boolean): void {
    if (on && unsubscribe.length === 0) {
      unsubscribe = [
        options.fanout.subscribe('processing:checkpoint', wake),
        options.fanout.subscribe('inventory:warning', wake),
      ];
      timer = setInterval(wake, options.pollIntervalMs);
      timer.unref();
    } else if (!on && streams.size === 0) {
      for (const off of unsubscribe) off();
      unsubscribe = [];
      if (timer) clearInterval(timer);
      timer = null;
    }
  }

  return {
    follow(productIds) {
      if (closed) throw new Unavailable('the server is shutting down; subscribe again to another instance or later');
      const ids = checkWatchedIds(productIds);
      const stream = new LevelStream(ids, () => {
        streams.delete(stream);
        watching(false);
      });
      streams.add(stream);
      watching(true);
      // The current levels first, by the shared read (one at a time, so a later read never sends
      // an older level): nothing was sent to this stream yet, so it gets every product.
      wake();
      return stream;
    },
    close() {
      closed = true;
      for (const stream of [...streams]) stream.end();
    },
  };
}

function checkWatchedIds(productIds: readonly string[]): string[] {
  const ids = [...new Set(productIds)];
  if (ids.length === 0 || ids.length > MAX_PRODUCT_IDS) {
    throw new InvalidInput(`productIds must name 1 to ${MAX_PRODUCT_IDS} products, got ${ids.length}`);
  }
  if (ids.some((id) => id.length === 0)) throw new InvalidInput('productIds must not contain an empty id');
  return ids;
}

/** Every product of `ids`, set or not (a product never counted shows quantity 0, isSet false). */
async function readLevels(db: Queryable, ids: readonly string[], defaultThreshold: number): Promise<StockLevel[]> {
  const { rows } = await db.query(
    `SELECT u.id AS product_id, s.quantity, COALESCE(s.threshold, $2) AS threshold, s.updated_at
       FROM unnest($1::text[]) AS u(id) LEFT JOIN stock_levels s ON s.product_id = u.id`,
    [ids, defaultThreshold],
  );
  return rows.map((row) => ({
    productId: row.product_id as string,
    quantity: (row.quantity as number | null) ?? 0,
    threshold: row.threshold as number,
    isSet: row.quantity !== null && row.quantity !== undefined,
    updatedAt: (row.updated_at as Date | null) ?? new Date(0),
  }));
}

const sameLevel = (a: StockLevel, b: StockLevel) =>
  a.quantity === b.quantity && a.threshold === b.threshold && a.isSet === b.isSet;

/** One subscriber: the levels waiting to be sent, at most one per product. */
class LevelStream implements AsyncIterableIterator<StockLevel> {
  readonly productIds: ReadonlySet<string>;
  private readonly pending = new Map<string, StockLevel>();
  private readonly sent = new Map<string, StockLevel>();
  private waiting: ((result: IteratorResult<StockLevel>) => void) | null = null;
  private done = false;

  constructor(
    ids: readonly string[],
    private readonly onEnd: () => void,
  ) {
    this.productIds = new Set(ids);
  }

  offer(levels: readonly StockLevel[]): void {
    if (this.done) return;
    for (const level of levels) {
      if (!this.productIds.has(level.productId)) continue;
      const last = this.sent.get(level.productId);
      // Conflated: a newer level replaces one not yet sent; one equal to the last sent is dropped.
      if (last && sameLevel(last, level)) this.pending.delete(level.productId);
      else this.pending.set(level.productId, level);
    }
    this.deliver();
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    this.pending.clear();
    this.onEnd();
    const resolve = this.waiting;
    this.waiting = null;
    resolve?.({ value: undefined, done: true });
  }

  private take(): StockLevel | undefined {
    const next = this.pending.entries().next();
    if (next.done) return undefined;
    const [productId, level] = next.value;
    this.pending.delete(productId);
    this.sent.set(productId, level);
    return level;
  }

  private deliver(): void {
    if (!this.waiting) return;
    const level = this.take();
    if (!level) return;
    const resolve = this.waiting;
    this.waiting = null;
    resolve({ value: level, done: false });
  }

  next(): Promise<IteratorResult<StockLevel>> {
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    const level = this.take();
    if (level) return Promise.resolve({ value: level, done: false });
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  return(): Promise<IteratorResult<StockLevel>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<StockLevel> {
    return this;
  }
}
