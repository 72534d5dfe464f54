// Runs the stream processors: each follows the logs it needs from its durable checkpoint, in
// commit order, in batches as large as the backlog allows (bounded), and writes its derived rows,
// its feed rows and its new checkpoint in ONE transaction (invariant 2). A crash anywhere in a
// batch rolls all of it back, checkpoint included, so the batch is applied again, once.
//
// Ownership (invariant 3): a batch is processed under a transaction-scoped advisory lock per
// processor, taken with pg_try_advisory_xact_lock. Every process runs every processor; whoever
// holds the lock applies the next batch, the others skip. A process that dies (kill -9, a lost
// connection) loses its lock with its connection, and the next wake-up or poll of any other
// process takes over from the checkpoint. Correctness never depends on the lock alone: the
// checkpoint is read under it, and only lock holders write it.
//
// The lock, the checkpoint and the log are read before the first write, so the processor's
// transaction takes its id (which holds every feed's horizon back while it runs) only for the
// short write phase.
import pg from 'pg';
import { type Tx, withTransaction } from '../../db/transaction.js';
import { comparePositions, encodeCursor, type Position, START } from '../../feed/cursor.js';
import type { Fanout } from '../../feed/fanout.js';
import { MARK_NO_FEED_WRITES, markWritesOnly, type Queryable } from '../../feed/feed.js';
import type { FeedTopic } from '../../feed/topics.js';
import type { Logger } from '../../log.js';
import { CoreError } from '../errors.js';
import {
  createPgLogReader,
  type LogName,
  type LogReader,
  maxPosition,
  minPosition,
  type PgLog,
  readFromCheckpointSql,
  readOf,
} from './log.js';

/** One log a processor follows, optionally narrowed to the events it needs. */
export type Follow = { log: PgLog<unknown>; where?: string };

/** An event of any log, tagged with its log and position. */
export type Entry = { log: LogName; position: Position; event: unknown };

export type Processor = {
  /** Stable: it names the checkpoint rows and the lock. */
  name: string;
  follows: readonly Follow[];
  /**
   * Applies a batch (the entries of every followed log, merged in log order) inside `tx`.
   * Returns the topics to wake after COMMIT.
   */
  apply(tx: Tx, entries: readonly Entry[], batch?: BatchRange): Promise<readonly FeedTopic[]>;
  /**
   * Told how each batch it applied (or whose checkpoint moved) ended, after COMMIT or ROLLBACK.
   * A processor that keeps state between batches keeps it only for a committed batch that
   * started where its state stood: any other owner moves the checkpoint, so it knows to forget.
   */
  settled?(outcome: BatchRange & { committed: boolean }): void;
  /**
   * The one feed table its batches write, or null for none (only its own derived rows). Its
   * batches are left out of every other feed's horizon, so a long batch of it never delays
   * another processor's items.
   */
  feed: string | null;
};

/** Where a batch starts and ends, as one key of every followed log's checkpoint (equal keys:
 * equal checkpoints). */
export type BatchRange = { from: string; to: string };

/** The events of one log in a batch, typed. */
export function eventsOf<Event>(entries: readonly Entry[], log: PgLog<Event>): Event[] {
  const events: Event[] = [];
  for (const entry of entries) if (entry.log === log.name) events.push(entry.event as Event);
  return events;
}

export type ProcessingOptions = {
  pool: pg.Pool;
  fanout: Fanout;
  log: Logger;
  /** Every processor: the ones this process runs and the ones others run (ack PROCESSED waits for all). */
  processors: readonly Processor[];
  /** Names of the processors this process runs. */
  run: readonly string[];
  /** Events per batch at most, per log. */
  batchSize: number;
  /** Backstop for a lost wake-up, and how often a process that is not the owner looks again. */
  pollIntervalMs: number;
  /** How long `ack: PROCESSED` waits before it answers PROCESSING_TIMEOUT. */
  processedTimeoutMs: number;
  /** Under a stream of wake-ups, wait this long between batches so that they grow. */
  lingerMs: number;
  /** Wait this long after a wake-up before the first batch (the background worker's processors:
   * subscribers and the other processors get the first milliseconds after a commit). */
  wakeDelayMs?: number;
  /** The log behind the processors (default: the PostgreSQL tables, read in the batch's transaction). */
  reader?: (db: Queryable) => LogReader;
  /** Told after every committed batch, for metrics. */
  onBatch?: (processor: string, events: number, ms: number) => void;
};

export type ProcessorLag = { processor: string; log: LogName; events: number; seconds: number };

/** Answered when a batch is stored but not every processor passed it in time. */
export class ProcessingTimeout extends CoreError {
  constructor(position: Position, timeoutMs: number) {
    super(
      'PROCESSING_TIMEOUT',
      `the batch is stored (position ${encodeCursor(position)}), but not every processor passed it within ${timeoutMs} ms; its effects follow: do not send it again, query later or use ack: STORED`,
      { position: encodeCursor(position) },
    );
  }
}

/** Log wake-ups: ingest publishes them after COMMIT. */
const LOG_TOPICS: Record<LogName, FeedTopic> = {
  activity: 'activity:event',
  inventory: 'inventory:event',
  catalogue: 'catalogue:event',
  refunds: 'refunds:event',
};
/** A processor in a PostgreSQL session that stops answering (SIGSTOP) gives its lock up after this. */
const IDLE_IN_BATCH_TIMEOUT = '30s';
/**
 * A processor that writes no feed commits without waiting for the WAL flush (about 3 ms a batch
 * here): its rows are derived from the durable log, and a crash of PostgreSQL can only undo its
 * last batches together with their checkpoint, which it then applies again. Anything that leaves
 * the database from its rows goes through a later synchronous commit (the list builder), which
 * flushes the WAL up to itself, and so these batches first. The logs and the feeds stay durable.
 */
const ASYNC_COMMIT = `, set_config('synchronous_commit', 'off', true)`;
/** After a failed batch (the database is down), wait this long before trying again. */
const RETRY_AFTER_ERROR_MS = 500;
/**
 * A processor lingers (lingerMs) only after a batch smaller than this: a stream of small appends
 * (single events) then gets larger batches, while batches this large already spread the cost of
 * a batch's round trips, and a wait would only delay the mutations that wait for them (ack
 * PROCESSED, 500-event batches in a closed loop: 4,170–5,170 events/s before, 4,830–5,540 after).
 */
const LINGER_BELOW_EVENTS = 100;
/** Lag is counted up to this many events (a bounded index scan); beyond it, this number is shown. */
export const LAG_COUNT_LIMIT = 100_000;
/** /ready, /metrics and the processors query within this many ms share one reading of the lag. */
const LAG_CACHE_MS = 1000;

export type Processing = ReturnType<typeof createProcessing>;

export function createProcessing(options: ProcessingOptions) {
  const readerFor = options.reader ?? createPgLogReader;
  const states = options.processors
    .filter((processor) => options.run.includes(processor.name))
    .map((processor) => new ProcessorLoop(processor, options, readerFor));
  const checkpoints = new CheckpointWatch(options);
  const unsubscribes: Array<() => void> = [];
  let timer: NodeJS.Timeout | null = null;
  let lagRead: { at: number; lag: Promise<ProcessorLag[]> } | null = null;

  const followers = (log: LogName) => options.processors.filter((p) => p.follows.some((f) => f.log.name === log));

  return {
    /** Creates the checkpoint rows, then follows the logs until stop(). */
    async start(): Promise<void> {
      await ensureCheckpoints(options.pool, options.processors);
      for (const [log, topic] of Object.entries(LOG_TOPICS) as Array<[LogName, FeedTopic]>) {
        unsubscribes.push(
          options.fanout.subscribe(topic, () => {
            for (const state of states) if (state.follows(log)) state.wake();
          }),
        );
      }
      unsubscribes.push(options.fanout.subscribe('processing:checkpoint', () => checkpoints.refresh()));
      timer = setInterval(() => {
        for (const state of states) state.wake();
      }, options.pollIntervalMs);
      timer.unref();
      for (const state of states) state.wake();
    },

    /** Finishes the batches in progress and stops following. */
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      for (const unsubscribe of unsubscribes.splice(0)) unsubscribe();
      await Promise.all(states.map((state) => state.stop()));
      checkpoints.close();
    },

    /**
     * Resolves once every processor that follows `log` has passed `position` (ack: PROCESSED);
     * rejects with ProcessingTimeout after processedTimeoutMs.
     */
    waitProcessed(log: LogName, position: Position): Promise<void> {
      return checkpoints.waitFor(
        followers(log).map((p) => p.name),
        log,
        position,
      );
    },

    /** Processes until every processor has caught up with the log as it is now (tests, tools). */
    async settle(): Promise<void> {
      await ensureCheckpoints(options.pool, options.processors);
      for (const state of states) await state.drain();
    },

    /** Each processor's distance from the head of each log it follows (read at most once a second). */
    lag(): Promise<ProcessorLag[]> {
      if (!lagRead || performance.now() - lagRead.at > LAG_CACHE_MS) {
        lagRead = { at: performance.now(), lag: readLag() };
        lagRead.lag.catch(() => {
          lagRead = null;
        });
      }
      return lagRead.lag;
    },
  };

  async function readLag(): Promise<ProcessorLag[]> {
    const stored = await readCheckpoints(options.pool);
    const now = Date.now();
    const result: ProcessorLag[] = [];
    for (const processor of options.processors) {
      for (const follow of processor.follows) {
        const after = stored.get(key(processor.name, follow.log.name)) ?? START;
        const lag = await readerFor(options.pool).lag(follow.log, after, {
          where: follow.where,
          countUpTo: LAG_COUNT_LIMIT,
        });
        result.push({
          processor: processor.name,
          log: follow.log.name,
          events: lag.events,
          seconds: lag.oldestReceivedAt ? Math.max(0, (now - lag.oldestReceivedAt.getTime()) / 1000) : 0,
        });
      }
    }
    return result;
  }
}

class ProcessorLoop {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly logs: Set<LogName>;
  /** Events in the last batch this process applied (see LINGER_BELOW_EVENTS). */
  private lastBatchEvents = 0;

  /** The log is PostgreSQL's tables: the batch's reads go with BEGIN, in its first round trip. */
  private readonly prereads: boolean;

  constructor(
    private readonly processor: Processor,
    private readonly options: ProcessingOptions,
    private readonly readerFor: (db: Queryable) => LogReader,
  ) {
    this.logs = new Set(processor.follows.map((f) => f.log.name));
    this.prereads = options.reader === undefined;
  }

  follows(log: LogName): boolean {
    return this.logs.has(log);
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    // Wake-ups that come during the delay are absorbed: the first batch reads what they announced.
    const delay = this.options.wakeDelayMs ?? 0;
    const run = delay > 0 ? sleep(delay).then(() => (this.stopped ? undefined : this.loop())) : this.loop();
    this.running = run.finally(() => {
      this.running = null;
    });
  }

  /** Runs batches until the processor has caught up (or another process owns it). */
  async drain(): Promise<void> {
    for (;;) {
      if (this.running) await this.running;
      const outcome = await this.step();
      if (outcome === 'busy') {
        // Another process holds the lock: wait for it to finish its batch, then look again.
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      if (outcome !== 'more') return;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.running;
  }

  private async loop(): Promise<void> {
    let outcome: StepOutcome | null = null;
    do {
      this.again = false;
      // Woken again while a small batch ran: linger, so that a stream of small appends is applied
      // in fewer, larger batches (Kafka's linger.ms). A full or large batch goes on at once; so
      // does the first batch after an idle spell, which keeps latency low at low load.
      if (outcome === 'done' && this.lastBatchEvents < LINGER_BELOW_EVENTS && this.options.lingerMs > 0)
        await sleep(this.options.lingerMs);
      try {
        outcome = await this.step();
      } catch (error) {
        this.options.log.error({ err: error, processor: this.processor.name }, 'processor batch failed; retrying');
        this.retryTimer = setTimeout(() => this.wake(), RETRY_AFTER_ERROR_MS);
        this.retryTimer.unref();
        return;
      }
      if (outcome === 'more') this.again = true;
    } while (this.again && !this.stopped);
  }

  /** One batch: 'more' when it was full, 'done' when caught up, 'busy' when another owner has it. */
  private async step(): Promise<StepOutcome> {
    const started = performance.now();
    const { options, processor } = this;
    const name = pg.escapeLiteral(processor.name);
    // One round trip with BEGIN: the lock, the mark that keeps this transaction out of the log's
    // horizon (it never writes a log table; nor any feed but its own), a bound on how long a
    // frozen owner keeps the lock, the checkpoints (read in vain when another process owns it), and
    // on PostgreSQL's log the batch's reads from those checkpoints (none unless this is the owner).
    const lock = `pg_try_advisory_xact_lock(hashtextextended('processor:' || ${name}, 0))`;
    const prelude = `SELECT ${lock} AS owner,
              ${processor.feed ? markWritesOnly(processor.feed) : MARK_NO_FEED_WRITES},
              set_config('idle_in_transaction_session_timeout', '${IDLE_IN_BATCH_TIMEOUT}', true)${processor.feed ? '' : ASYNC_COMMIT};
      ${CHECKPOINTS_SQL} WHERE processor = ${name};
      ${this.prereads ? processor.follows.map((f) => readFromCheckpointSql(f.log, name, { limit: options.batchSize, where: f.where, onlyIf: lock })).join(';\n') : ''}`;
    let range: BatchRange | null = null;
    const settled = (committed: boolean) => {
      if (range) processor.settled?.({ ...range, committed });
    };
    const result = await withTransaction(
      options.pool,
      async (tx, [lock, checkpoints, ...reads]) => {
        range = null; // a retried transaction starts over
        if (!lock?.rows[0]?.owner) return { outcome: 'busy' as const };
        const stored = checkpointsOf(checkpoints?.rows ?? []);
        // Read with BEGIN (the PostgreSQL log), or now on the transaction's own connection (a pool
        // of one, the embedded database, must do).
        const reader: LogReader = this.prereads
          ? prereadLog(processor, stored, reads, options.batchSize)
          : this.readerFor(tx);
        const batch = await readBatch(reader, processor, stored, options.batchSize);
        const moved = batch.next.filter((n) => comparePositions(n.position, n.from) !== 0);
        if (batch.entries.length === 0 && moved.length === 0) return { outcome: 'done' as const };
        range = {
          from: rangeKey(batch.next.map((n) => n.from)),
          to: rangeKey(batch.next.map((n) => n.position)),
        };
        const topics = batch.entries.length > 0 ? await processor.apply(tx, batch.entries, range) : [];
        const counts = moved.map((n) => ({
          ...n,
          events: batch.entries.filter((e) => e.log === n.log).length,
        }));
        return {
          outcome: batch.full ? ('more' as const) : ('done' as const),
          topics,
          events: batch.entries.length,
          checkpoints: counts,
        };
      },
      {
        prelude,
        // The new checkpoint goes with COMMIT, in the same round trip.
        epilogue: (done) => checkpointUpdate(processor.name, done.checkpoints ?? []),
      },
    ).catch((error: unknown) => {
      settled(false);
      throw error;
    });
    settled(true);
    if (result.outcome === 'busy') return 'busy';
    if ('topics' in result) {
      // After COMMIT only: readers woken now find the rows.
      for (const topic of new Set(result.topics)) options.fanout.publish(topic);
      options.fanout.publish('processing:checkpoint');
      options.onBatch?.(processor.name, result.events ?? 0, performance.now() - started);
    }
    this.lastBatchEvents = 'events' in result ? (result.events ?? 0) : 0;
    return result.outcome;
  }
}

type StepOutcome = 'more' | 'done' | 'busy';

/**
 * Reads the next batch of every followed log and merges them in log order. With several logs the
 * batch stops at the first place where one of them may still have unread events (the end of a
 * full read), so entries are applied in the same global order whatever the batch boundaries.
 */
/**
 * A LogReader over the reads sent with BEGIN (readFromCheckpointSql): one per followed log, in
 * order, each from the checkpoint `stored` holds (read in the same round trip, under the lock).
 */
function prereadLog(
  processor: Processor,
  stored: Map<string, Position>,
  reads: readonly pg.QueryResult[],
  limit: number,
): LogReader {
  return {
    async read(log, after) {
      const at = processor.follows.findIndex((f) => f.log.name === log.name);
      const from = stored.get(key(processor.name, log.name)) ?? START;
      const rows = reads[at]?.rows;
      if (!rows || comparePositions(from, after) !== 0)
        throw new Error(`no read of ${log.name} from ${after.txId}:${after.seq}`);
      return readOf(log as PgLog<never>, rows, after, limit);
    },
    lag: () => Promise.reject(new Error('the reads sent with BEGIN do not measure lag')),
  };
}

export async function readBatch(
  reader: LogReader,
  processor: Processor,
  stored: Map<string, Position>,
  limit: number,
): Promise<{ entries: Entry[]; next: Array<{ log: LogName; from: Position; position: Position }>; full: boolean }> {
  // One after another: they share the batch's connection, where pg queues them anyway (and
  // deprecates issuing a query while another runs).
  const reads: Array<{ follow: Follow; from: Position; read: Awaited<ReturnType<LogReader['read']>> }> = [];
  for (const follow of processor.follows) {
    const from = stored.get(key(processor.name, follow.log.name)) ?? START;
    reads.push({ follow, from, read: await reader.read(follow.log, from, { limit, where: follow.where }) });
  }
  let cut: Position | null = null;
  for (const { read } of reads) cut = cut === null ? read.next : minPosition(cut, read.next);
  const entries: Entry[] = [];
  for (const { follow, read } of reads) {
    for (const entry of read.entries) {
      if (cut && comparePositions(entry.position, cut) <= 0) {
        entries.push({ log: follow.log.name, position: entry.position, event: entry.event });
      }
    }
  }
  // Transaction ids are never shared between logs (one ingest transaction writes one log), so
  // (tx_id, seq) orders the merged entries.
  entries.sort((a, b) => comparePositions(a.position, b.position));
  const next = reads.map(({ follow, from, read }) => ({
    log: follow.log.name,
    from,
    position: maxPosition(from, minPosition(read.next, cut as Position)),
  }));
  return { entries, next, full: reads.some(({ read }) => read.full) };
}

function rangeKey(positions: readonly Position[]): string {
  return positions.map((p) => `${p.txId}:${p.seq}`).join(',');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function key(processor: string, log: LogName | string): string {
  return `${processor}\u0000${log}`;
}

async function ensureCheckpoints(pool: pg.Pool, processors: readonly Processor[]): Promise<void> {
  const rows = processors.flatMap((p) => p.follows.map((f) => [p.name, f.log.name] as const));
  await pool.query(
    `INSERT INTO processor_checkpoints (processor, log)
     SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING`,
    [rows.map((r) => r[0]), rows.map((r) => r[1])],
  );
}

const CHECKPOINTS_SQL = 'SELECT processor, log, tx_id, seq FROM processor_checkpoints';

async function readCheckpoints(db: Pick<pg.Pool, 'query'>): Promise<Map<string, Position>> {
  return checkpointsOf((await db.query(CHECKPOINTS_SQL)).rows);
}

function checkpointsOf(rows: ReadonlyArray<Record<string, unknown>>): Map<string, Position> {
  return new Map(
    rows.map((r) => [
      key(r.processor as string, r.log as string),
      { txId: BigInt(r.tx_id as string), seq: BigInt(r.seq as string) },
    ]),
  );
}

/**
 * The statement that moves a processor's checkpoints, values inlined: it is sent with COMMIT in
 * the simple protocol, which takes no parameters. Null when no checkpoint moved.
 */
function checkpointUpdate(
  processor: string,
  moved: ReadonlyArray<{ log: LogName; position: Position; events: number }>,
): string | null {
  if (moved.length === 0) return null;
  const values = moved.map(
    (n) => `(${pg.escapeLiteral(n.log)}, ${n.position.txId}::bigint, ${n.position.seq}::bigint, ${n.events}::bigint)`,
  );
  return `UPDATE processor_checkpoints c
             SET tx_id = u.tx_id, seq = u.seq, events = c.events + u.events, updated_at = now()
            FROM (VALUES ${values.join(', ')}) AS u(log, tx_id, seq, events)
           WHERE c.processor = ${pg.escapeLiteral(processor)} AND c.log = u.log`;
}

type Waiter = {
  processors: readonly string[];
  log: LogName;
  position: Position;
  resolve: () => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
};

/**
 * The checkpoints as last read, for `ack: PROCESSED`. Re-read on every checkpoint wake-up (from
 * any process) while someone waits, at most one read at a time, and on a timer in case a
 * wake-up was lost; every waiter that a read satisfies is answered.
 */
class CheckpointWatch {
  private readonly waiters = new Set<Waiter>();
  private reading: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: ProcessingOptions) {}

  waitFor(processors: readonly string[], log: LogName, position: Position): Promise<void> {
    if (processors.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        processors,
        log,
        position,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new ProcessingTimeout(position, this.options.processedTimeoutMs));
        }, this.options.processedTimeoutMs),
      };
      this.waiters.add(waiter);
      this.timer ??= setInterval(() => this.refresh(), Math.min(this.options.pollIntervalMs, 250));
      this.refresh();
    });
  }

  refresh(): void {
    if (this.waiters.size === 0) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = this.read().finally(() => {
      this.reading = null;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    });
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async read(): Promise<void> {
    let stored: Map<string, Position>;
    try {
      stored = await readCheckpoints(this.options.pool);
    } catch {
      return; // the timer tries again; a waiter times out with a clear error if it never works
    }
    for (const waiter of this.waiters) {
      const passed = waiter.processors.every((processor) => {
        const at = stored.get(key(processor, waiter.log));
        return at !== undefined && comparePositions(at, waiter.position) >= 0;
      });
      if (passed) {
        clearTimeout(waiter.timer);
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
    if (this.waiters.size === 0) this.close();
  }
}
