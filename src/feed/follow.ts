// follow(): replay a feed from a cursor, then continue live, with no gap and no duplicate,
// and with bounded memory per subscriber (invariants 5 and 6).
//
// One tailer per feed table and process reads new rows once, after each wake-up (and on a
// timer, in case a wake-up was lost), and offers them to every live subscriber. A subscriber
// that resumes from a cursor first pages through the table itself, pulled by its consumer, and
// joins the tailer only when it has caught up. Every item is queued only if its position is
// after the last one queued, so the hand-over from replay to live can overlap but never skip.
import { CoreError, Unavailable, unstorableText } from '../core/errors.js';
import type { Logger } from '../log.js';
import { encodeCursor, isAfter, type Position } from './cursor.js';
import type { Fanout } from './fanout.js';
import { type FeedItem, type FeedPage, type FeedSource, type Queryable, readAfter, readHead } from './feed.js';
import type { FeedTopic } from './topics.js';

/** The last item of a stream that ends with an error instead of completing. */
export type FeedEnd = CoreError;

/** Ends an event-stream subscription whose consumer fell too far behind. Resume from `cursor`. */
export class ResyncRequired extends CoreError {
  constructor(lastDelivered: Position, limit: number) {
    super(
      'RESYNC_REQUIRED',
      `this subscriber fell more than ${limit} items behind; subscribe again with after: the cursor in extensions`,
      { cursor: encodeCursor(lastDelivered) },
    );
  }
}

/**
 * Where a pushed subscription's items go (the WebSocket push hub), instead of waiting to be pulled
 * through the iterator: items are handed over in the same turn as the tailer offers them.
 */
export type FeedSink<Item> = {
  /** Takes the next item; false asks for no more until the subscription's resume() is called. */
  deliver(item: Item): boolean;
  /** The stream is over: `final` is its last item (an error to show), or null when it completed. */
  end(final: FeedEnd | null): void;
};

/** A followed stream that can push instead of being pulled (see Subscription.push). */
export type PushableFeed<Item> = AsyncIterableIterator<Item | FeedEnd> & {
  push(sink: FeedSink<Item>): void;
  resume(): void;
};

/** Whether `stream` is a feed subscription that can push (anything else is pulled as before). */
export function isPushableFeed(stream: unknown): stream is PushableFeed<FeedItem> {
  return stream instanceof Subscription;
}

export type FollowOptions<Filter> = {
  /** Resume after this position; without it, only items newer than now are sent. */
  after?: Position | null;
  filter: Filter;
};

export type FeedOptions = {
  db: Queryable;
  fanout: Fanout;
  log: Logger;
  subscriberQueueLimit: number;
  replayPageSize: number;
  pollIntervalMs: number;
  /** Called when a subscriber is ended for lagging (RESYNC_REQUIRED), for metrics. */
  onResync?: (table: string) => void;
  /** Called for every item handed to a subscriber, for metrics. */
  onDelivered?: (topic: FeedTopic) => void;
  /** Called when the reader of `topic` has read everything committed before `readStartedAt`
   * (performance.now()); `offered` is false when nobody was listening. For metrics. */
  onCaughtUp?: (topic: FeedTopic, readStartedAt: number, offered: boolean) => void;
  /** Lets the pages of a backlog leave in fewer writes (the WebSocket push hub's deferWrites). */
  deferWrites?: () => DeferredWrites;
};

/**
 * Writes made while `during` runs wait on their sockets until `flush`: a subscriber that gets one
 * item per page of a backlog (a shopper's own stream) then gets several in one system call.
 */
export type DeferredWrites = { during(offer: () => void): void; flush(): void };

/** A backlog's deferred writes leave at least this often, in items offered and in time. */
const DEFER_MAX_ITEMS = 4000;
const DEFER_MAX_MS = 100;

export type Feed = {
  /** Items after `options.after` that match the filter, then live ones. A stream that cannot go on
   * (the consumer lagged: RESYNC_REQUIRED; the database failed: UNAVAILABLE) yields that error last. */
  follow<Item extends FeedItem, Filter>(
    source: FeedSource<Item, Filter>,
    options: FollowOptions<Filter>,
  ): AsyncIterableIterator<Item | FeedEnd>;
  /** Open subscriptions, for metrics and tests. */
  subscriberCount(): number;
  /** Open subscriptions per topic, for metrics. */
  subscriberCounts(): Map<FeedTopic, number>;
  /** Ends every subscription (their consumers see the stream complete) and stops reading. */
  close(): Promise<void>;
};

export function createFeed(options: FeedOptions): Feed {
  const tailers = new Map<string, Tailer<FeedItem, unknown>>();
  let closed = false;

  const tailerFor = <Item extends FeedItem, Filter>(source: FeedSource<Item, Filter>) => {
    let tailer = tailers.get(source.table);
    if (!tailer) {
      tailer = new Tailer(source as unknown as FeedSource<FeedItem, unknown>, options);
      tailers.set(source.table, tailer);
    }
    return tailer as unknown as Tailer<Item, Filter>;
  };

  return {
    follow(source, followOptions) {
      if (closed) throw new CoreError('UNAVAILABLE', 'the server is shutting down');
      return new Subscription(tailerFor(source), followOptions, options);
    },
    subscriberCount() {
      let count = 0;
      for (const tailer of tailers.values()) count += tailer.subscribers.size;
      return count;
    },
    subscriberCounts() {
      const counts = new Map<FeedTopic, number>();
      for (const tailer of tailers.values()) {
        const topic = tailer.source.topic;
        counts.set(topic, (counts.get(topic) ?? 0) + tailer.subscribers.size);
      }
      return counts;
    },
    async close() {
      closed = true;
      await Promise.all([...tailers.values()].map((tailer) => tailer.close()));
    },
  };
}

/** Full replay pages kept for subscribers resuming from the same cursor, and for how long. */
const KEPT_PAGES = 64;
const KEPT_PAGE_MS = 5000;
/** Re-reads while rows are held back behind an open transaction: 10 ms, doubling up to 200 ms. */
const RETRY_MIN_MS = 10;
const RETRY_MAX_MS = 200;

class Tailer<Item extends FeedItem, Filter> {
  readonly subscribers = new Set<Subscription<Item, Filter>>();
  /** Subscribers whose filter pins a route value (source.route), by that value. */
  private readonly routed = new Map<string, Set<Subscription<Item, Filter>>>();
  /** Subscribers that must be offered every item. */
  private readonly unrouted = new Set<Subscription<Item, Filter>>();
  /** Replay pages being read or recently read (see readPage). */
  private readonly pages = new Map<string, { page: Promise<FeedPage<Item>>; full: boolean }>();
  head: Position | null = null;
  private starting: Promise<Position> | null = null;
  private reading = false;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  /** Grows while rows stay held back (a long transaction), so waiting costs few reads. */
  private retryDelayMs = RETRY_MIN_MS;
  private unsubscribe: (() => void) | null = null;
  private closed = false;

  constructor(
    readonly source: FeedSource<Item, Filter>,
    readonly options: FeedOptions,
  ) {}

  /** The tailer's position, reading it from the database the first time. */
  start(): Promise<Position> {
    this.starting ??= readHead(this.options.db, this.source.table, this.source.isLog).then(
      ({ txId, seq }) => {
        this.head ??= { txId, seq };
        this.unsubscribe = this.options.fanout.subscribe(this.source.topic, () => this.wake());
        this.timer = setInterval(() => this.wake(), this.options.pollIntervalMs);
        this.timer.unref();
        return this.head;
      },
      (error: unknown) => {
        this.starting = null; // the next subscriber tries again
        throw error;
      },
    );
    return this.starting;
  }

  join(subscriber: Subscription<Item, Filter>, filter: Filter): void {
    this.subscribers.add(subscriber);
    const value = this.source.route?.ofFilter(filter) ?? null;
    if (value === null) return void this.unrouted.add(subscriber);
    let group = this.routed.get(value);
    if (!group) {
      group = new Set();
      this.routed.set(value, group);
    }
    group.add(subscriber);
  }

  leave(subscriber: Subscription<Item, Filter>, filter: Filter): void {
    if (!this.subscribers.delete(subscriber)) return;
    const value = this.source.route?.ofFilter(filter) ?? null;
    if (value === null) return void this.unrouted.delete(subscriber);
    const group = this.routed.get(value);
    group?.delete(subscriber);
    if (group?.size === 0) this.routed.delete(value);
  }

  private offer(item: Item): void {
    for (const subscriber of this.unrouted) subscriber.offer(item);
    if (this.routed.size === 0) return;
    const group = this.routed.get((this.source.route as NonNullable<typeof this.source.route>).ofItem(item));
    if (group) for (const subscriber of group) subscriber.offer(item);
  }

  /**
   * A replay page for a subscriber. Subscribers that resume from the same cursor with the same
   * filter (a reconnect storm) share one read: a full page is a fixed slice of the feed (below the
   * horizon nothing can be inserted any more), so it is kept for a while and handed to anyone who
   * asks for it; a read in flight is shared only with subscribers still replaying, since a
   * catching-up subscriber needs a read that started after it joined the tailer.
   */
  async readPage(after: Position, filter: Filter, limit: number, share: boolean): Promise<FeedPage<Item>> {
    const key = `${after.txId}:${after.seq}:${limit}:${JSON.stringify(filter)}`;
    const kept = this.pages.get(key);
    if (kept && (share || kept.full)) return kept.page;
    const read = readAfter(this.options.db, this.source, after, { filter, limit });
    if (!kept) this.pages.set(key, { page: read, full: false });
    try {
      const page = await read;
      if (page.items.length === limit) this.keep(key, page);
      else if (this.pages.get(key)?.page === read) this.pages.delete(key);
      return page;
    } catch (error) {
      if (this.pages.get(key)?.page === read) this.pages.delete(key);
      throw error;
    }
  }

  private keep(key: string, page: FeedPage<Item>): void {
    this.pages.delete(key);
    this.pages.set(key, { page: Promise.resolve(page), full: true });
    // Oldest first (a Map keeps insertion order): bounded memory, however many cursors resume.
    while (this.pages.size > KEPT_PAGES) this.pages.delete(this.pages.keys().next().value as string);
    const timer = setTimeout(() => {
      if (this.pages.get(key)?.full) this.pages.delete(key);
    }, KEPT_PAGE_MS);
    timer.unref();
  }

  /** Reads what is new; concurrent wake-ups fold into one more read. */
  wake(): void {
    if (this.closed || this.head === null) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    void this.readAll().finally(() => {
      this.reading = false;
    });
  }

  private async readAll(): Promise<void> {
    const limit = this.options.replayPageSize;
    /** The next page of a backlog, read while the current one is offered. */
    let prefetched: { after: Position; page: Promise<FeedPage<Item>> } | null = null;
    /** While a backlog is offered page after page, its writes wait to leave together. */
    let deferred: { writes: DeferredWrites; items: number; since: number } | null = null;
    try {
      do {
        this.again = false;
        const readStartedAt = performance.now();
        if (this.subscribers.size === 0) {
          // Nobody listens: skip ahead instead of reading rows for no one, unless somebody
          // joined meanwhile (they start at the old head and must be offered what follows).
          const { txId, seq, heldBack } = await readHead(this.options.db, this.source.table, this.source.isLog);
          // Rows held back: someone may join and wait for them, so look again soon.
          if (heldBack) this.retrySoon();
          else this.retryDelayMs = RETRY_MIN_MS;
          if (this.subscribers.size === 0) {
            this.head = { txId, seq };
            this.options.onCaughtUp?.(this.source.topic, readStartedAt, false);
            return;
          }
        }
        const page: FeedPage<Item> = await (prefetched?.after === this.head
          ? prefetched.page
          : readAfter(this.options.db, this.source, this.head as Position, { limit }));
        prefetched = null;
        const last = page.items.at(-1);
        if (last && page.items.length === limit) {
          // A backlog: the database reads the next page while this one is delivered (positions
          // below the horizon never change, so it is the page the next turn would read).
          const next = readAfter(this.options.db, this.source, last.position, { limit });
          next.catch(() => {}); // a failure is reported where it is awaited, or not at all if unused
          prefetched = { after: last.position, page: next };
        }
        const offerPage = () => {
          for (const item of page.items) {
            this.head = item.position;
            this.offer(item);
          }
        };
        const backlog = page.items.length === limit;
        if (backlog && !deferred && this.options.deferWrites) {
          deferred = { writes: this.options.deferWrites(), items: 0, since: performance.now() };
        }
        if (deferred) {
          deferred.writes.during(offerPage);
          deferred.items += page.items.length;
          if (!backlog || deferred.items >= DEFER_MAX_ITEMS || performance.now() - deferred.since >= DEFER_MAX_MS) {
            deferred.writes.flush();
            deferred = null;
          }
        } else offerPage();
        if (backlog) this.again = true;
        else if (page.heldBack) this.retrySoon();
        else {
          this.retryDelayMs = RETRY_MIN_MS;
          this.options.onCaughtUp?.(this.source.topic, readStartedAt, true);
        }
      } while (this.again && !this.closed);
    } catch (error) {
      // The database may be restarting; the timer tries again, and no position was skipped.
      this.options.log.warn({ err: error, table: this.source.table }, 'feed read failed');
    } finally {
      deferred?.writes.flush();
    }
  }

  /** Rows wait behind an older open transaction; its commit may come without a wake-up. */
  retrySoon(): void {
    if (this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.wake();
    }, this.retryDelayMs);
    this.retry.unref();
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, RETRY_MAX_MS);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    if (this.retry) clearTimeout(this.retry);
    for (const subscriber of [...this.subscribers]) subscriber.end();
  }
}

type Mode = 'replaying' | 'catching-up' | 'live' | 'ended';

class Subscription<Item extends FeedItem, Filter> implements AsyncIterableIterator<Item | FeedEnd> {
  private mode: Mode = 'replaying';
  /** Event streams: a FIFO. State streams (keyOf): latest item per key, in position order. */
  private readonly queue = new Map<string | number, Item>();
  private nextKey = 0;
  /** Live items that arrive while the last replay page is being read. */
  private arrivedDuringCatchUp: Item[] = [];
  private lastQueued: Position | null;
  private lastDelivered: Position | null;
  private final: CoreError | null = null;
  private waiting: ((result: IteratorResult<Item | FeedEnd>) => void) | null = null;
  private pulling: Promise<void> | null = null;
  private readonly started: Promise<void>;
  private startedOk = false;
  /** Push mode (push()): where items go, and whether it takes more right now. */
  private sink: FeedSink<Item> | null = null;
  private sinkReady = false;
  private draining = false;

  constructor(
    private readonly tailer: Tailer<Item, Filter>,
    private readonly options: FollowOptions<Filter>,
    private readonly feed: FeedOptions,
  ) {
    this.lastQueued = options.after ?? null;
    this.lastDelivered = options.after ?? null;
    this.started = this.start();
    // A failed start is reported by next(); it must not also be an unhandled rejection.
    this.started.catch(() => {});
  }

  private async start(): Promise<void> {
    const head = await this.tailer.start();
    if (this.mode === 'ended') return;
    this.tailer.join(this, this.options.filter);
    if (this.lastQueued === null) {
      // No cursor: begin at the tailer's position, in the same tick as joining it.
      this.lastQueued = this.tailer.head ?? head;
      this.lastDelivered = this.lastQueued;
      this.mode = 'live';
    }
  }

  /** Called by the tailer for every new row, in feed order. */
  offer(item: Item): void {
    if (this.mode === 'replaying' || this.mode === 'ended') return;
    if (!this.tailer.source.matches(item, this.options.filter)) return;
    if (this.mode === 'catching-up') {
      this.arrivedDuringCatchUp.push(item);
      if (this.arrivedDuringCatchUp.length > this.feed.subscriberQueueLimit) this.fallBehind();
      return;
    }
    this.enqueue(item);
  }

  private enqueue(item: Item): void {
    if (this.mode === 'ended' || this.final) return;
    if (this.lastQueued !== null && !isAfter(item.position, this.lastQueued)) return;
    this.lastQueued = item.position;
    const keyOf = this.tailer.source.keyOf;
    if (this.sinkReady && this.queue.size === 0) {
      // Pushed: straight to the socket, in the tailer's turn (no queue, no promise).
      this.lastDelivered = item.position;
      this.feed.onDelivered?.(this.tailer.source.topic);
      this.sinkReady = (this.sink as FeedSink<Item>).deliver(item);
      return;
    }
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      this.lastDelivered = item.position;
      this.feed.onDelivered?.(this.tailer.source.topic);
      resolve({ value: item, done: false });
      return;
    }
    if (keyOf) {
      const key = keyOf(item);
      this.queue.delete(key); // re-inserted at the end: the queue stays in position order
      this.queue.set(key, item);
    } else {
      this.queue.set(this.nextKey++, item);
      if (this.queue.size > this.feed.subscriberQueueLimit) this.fallBehind();
    }
  }

  private fallBehind(): void {
    this.final = new ResyncRequired(this.lastDelivered ?? { txId: 0n, seq: 0n }, this.feed.subscriberQueueLimit);
    this.feed.onResync?.(this.tailer.source.table);
    this.queue.clear();
    this.arrivedDuringCatchUp = [];
    this.leave();
    this.flushWaiting();
    this.drain();
  }

  /**
   * Push mode: from now on items are handed to `sink` as they arrive, and nobody calls next().
   * The guarantees are the pulled stream's: replay then live without gap, the bounded queue (it
   * fills while the sink asks for no more, e.g. a socket over its high-water mark), conflation.
   */
  push(sink: FeedSink<Item>): void {
    this.sink = sink;
    this.started.then(
      () => {
        this.startedOk = true;
        this.sinkReady = true;
        this.drain();
      },
      (error: unknown) => {
        if (this.mode !== 'ended') this.failed(error);
        this.sinkReady = true;
        this.drain();
      },
    );
  }

  /** Push mode: the sink takes items again (its socket drained). */
  resume(): void {
    if (!this.sink) return;
    this.sinkReady = true;
    this.drain();
  }

  /** Push mode: hands over what is queued, replays the next page, or ends the sink. */
  private drain(): void {
    if (!this.sink || this.draining) return;
    this.draining = true;
    try {
      while (this.sinkReady) {
        const first = this.queue.entries().next();
        if (!first.done) {
          const [key, item] = first.value;
          this.queue.delete(key);
          this.lastDelivered = item.position;
          this.feed.onDelivered?.(this.tailer.source.topic);
          this.sinkReady = this.sink.deliver(item);
          continue;
        }
        if (this.final) {
          const final = this.final;
          this.final = null;
          this.mode = 'ended';
          this.endSink(final);
        } else if (this.mode === 'ended') this.endSink(null);
        else if (this.mode === 'replaying' && !this.pulling) {
          this.pulling = this.pull()
            .catch((error: unknown) => this.failed(error))
            .finally(() => {
              this.pulling = null;
              this.drain();
            });
        }
        return;
      }
    } finally {
      this.draining = false;
    }
  }

  private endSink(final: FeedEnd | null): void {
    const sink = this.sink;
    this.sink = null;
    this.sinkReady = false;
    sink?.end(final);
  }

  /** Pages through the table until caught up with the tailer, then goes live. */
  private async pull(): Promise<void> {
    // A replayed page must fit in the queue, or replay itself would overflow it.
    const limit = Math.min(this.feed.replayPageSize, this.feed.subscriberQueueLimit);
    const read = () =>
      this.tailer.readPage(this.lastQueued as Position, this.options.filter, limit, this.mode === 'replaying');
    let page = await read();
    // Rows held back behind an open transaction reach this subscriber through the tailer, whose
    // wake-up for them may already be spent: make it look again soon.
    if (page.heldBack) this.tailer.retrySoon();
    if (page.items.length === limit || this.mode !== 'replaying') {
      for (const item of page.items) this.enqueue(item);
      return;
    }
    // Exhausted: join the live stream, then read once more, since the tailer may have passed
    // rows that were committed after the read above. Overlap is dropped by position.
    this.mode = 'catching-up';
    for (const item of page.items) this.enqueue(item);
    page = await read();
    if (page.heldBack) this.tailer.retrySoon();
    if (this.mode !== 'catching-up') return;
    for (const item of page.items) this.enqueue(item);
    if (page.items.length === limit) {
      this.mode = 'replaying';
      this.arrivedDuringCatchUp = [];
      return;
    }
    this.mode = 'live';
    const arrived = this.arrivedDuringCatchUp;
    this.arrivedDuringCatchUp = [];
    for (const item of arrived) this.enqueue(item);
  }

  async next(): Promise<IteratorResult<Item | FeedEnd>> {
    // Once started, skip the await: at a thousand subscribers every microtask per item counts.
    if (!this.startedOk) {
      try {
        await this.started;
        this.startedOk = true;
      } catch (error) {
        // Report a failed start once; after that the stream is over (a consumer that keeps
        // pulling must not get the same error forever).
        if (this.mode === 'ended') return { value: undefined, done: true };
        this.failed(error);
      }
    }
    for (;;) {
      const first = this.queue.entries().next();
      if (!first.done) {
        const [key, item] = first.value;
        this.queue.delete(key);
        this.lastDelivered = item.position;
        this.feed.onDelivered?.(this.tailer.source.topic);
        return { value: item, done: false };
      }
      if (this.final) {
        const final = this.final;
        this.final = null;
        this.mode = 'ended';
        return { value: final, done: false };
      }
      if (this.mode === 'ended') return { value: undefined, done: true };
      if (this.mode === 'replaying') {
        this.pulling ??= this.pull()
          .catch((error: unknown) => this.failed(error))
          .finally(() => {
            this.pulling = null;
          });
        await this.pulling;
        continue;
      }
      return new Promise((resolve) => {
        this.waiting = resolve;
      });
    }
  }

  /**
   * The database could not be read: end with an error the client can act on (resubscribe, or
   * fix a filter that holds NUL, which no retry would cure).
   */
  private failed(error: unknown): void {
    const invalid = unstorableText(error);
    if (!invalid) {
      this.feed.log.warn({ err: error, table: this.tailer.source.table }, 'subscription ended: feed read failed');
    }
    this.final = invalid ?? new Unavailable('the feed could not be read; subscribe again with after: your last cursor');
    this.queue.clear();
    this.leave();
    // Push mode: drain() ends the sink with it once the pull that failed has settled.
  }

  /** The consumer is done (unsubscribe, disconnect). */
  async return(): Promise<IteratorResult<Item | FeedEnd>> {
    this.end();
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<Item | FeedEnd>> {
    this.end();
    throw error;
  }

  /** Completes the stream: what is queued is dropped, the consumer sees done. */
  end(): void {
    this.mode = 'ended';
    this.final = null;
    this.queue.clear();
    this.leave();
    this.flushWaiting();
    this.endSink(null);
  }

  private leave(): void {
    this.tailer.leave(this, this.options.filter);
  }

  private flushWaiting(): void {
    if (!this.waiting) return;
    const resolve = this.waiting;
    this.waiting = null;
    if (this.final) {
      const final = this.final;
      this.final = null;
      this.mode = 'ended';
      resolve({ value: final, done: false });
    } else {
      resolve({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
