// The clients of a chaos run. Writers send activity and inventory batches, as an integration
// does: a batch without an answer (refused, timed out, connection lost) is sent again, with the
// same eventIds and content, to whichever server is up, until one acknowledges it. Followers
// hold a graphql-ws subscription on every stream, through any server, and resume from their last
// cursor after every disconnect (and now and then disconnect on purpose).
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { comparePositions, decodeCursor, encodeCursor, type Position, START } from '../../src/feed/cursor.js';
import type { Cluster, Node } from './cluster.js';
import type { Random } from './random.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const PRODUCTS = Array.from({ length: 12 }, (_, i) => `p${i}`);
const USERS = Array.from({ length: 20 }, (_, i) => `u${i}`);
const PRICES = ['0.99', '7.05', '12.34', '100.00'];
const CURRENCIES = ['USD', 'EUR'];
/** Every product starts counted at this level (event time: before every other event). */
export const INITIAL_LEVEL = 30;
const HOUR = 3_600_000;

export type Stream = 'activity' | 'inventory';
export type Batch = { id: string; stream: Stream; ack: 'STORED' | 'PROCESSED'; events: Array<Record<string, unknown>> };

const MUTATION: Record<Stream, string> = {
  activity: `mutation ($e: [ActivityEventInput!]!, $ack: IngestAck) {
    recordActivity(events: $e, ack: $ack) { accepted duplicates errors { index code message } } }`,
  inventory: `mutation ($e: [InventoryEventInput!]!, $ack: IngestAck) {
    recordInventory(events: $e, ack: $ack) { accepted duplicates errors { index code message } } }`,
};

export type Ledger = {
  /** eventId → its stream, for every event of an acknowledged batch. */
  acknowledged: Map<string, Stream>;
  /** Every event sent, by id (what was sent, to compare with what was stored). */
  sent: Map<string, Record<string, unknown>>;
  batches: number;
  attempts: number;
  /** Answers that were not an acknowledgement, by reason (UNAVAILABLE, timeout, connection lost …). */
  refusals: Map<string, number>;
  /** The first message of each reason, for the report. */
  refusalMessages: Map<string, string>;
  /** PROCESSING_TIMEOUT answers: stored, processing behind; counted as acknowledged. */
  processingTimeouts: number;
  /** Batches still without an acknowledgement when the run gave up on them. */
  unacknowledged: number;
  /** Acknowledged batches whose report rejected one of our (valid) events or did not add up. */
  badReports: string[];
};

export function newLedger(): Ledger {
  return {
    acknowledged: new Map(),
    sent: new Map(),
    batches: 0,
    attempts: 0,
    refusals: new Map(),
    refusalMessages: new Map(),
    processingTimeouts: 0,
    unacknowledged: 0,
    badReports: [],
  };
}

/** The event-time origin of a run: events fall in the three hours before the run (never in the future). */
export function timeBase(now = Date.now()): number {
  return now - 3 * HOUR - 60_000;
}

/** Counts every product at INITIAL_LEVEL, before (in event time) anything else happens. */
export function initialCounts(base: number): Batch {
  return {
    id: 'initial',
    stream: 'inventory',
    ack: 'PROCESSED',
    events: PRODUCTS.map((productId) => ({
      eventId: `init-${productId}`,
      productId,
      quantity: INITIAL_LEVEL,
      occurredAt: new Date(base - HOUR).toISOString(),
    })),
  };
}

/** Batch `b` of writer `w`: activity (with purchases in two currencies) or stock counts and adjustments. */
export function makeBatch(random: Random, w: number, b: number, base: number): Batch {
  const at = () => new Date(base + Math.floor(random.next() * 3 * HOUR)).toISOString();
  const ack = random.next() < 0.5 ? 'STORED' : 'PROCESSED';
  if (random.next() < 0.3) {
    return {
      id: `w${w}-b${b}`,
      stream: 'inventory',
      ack,
      events: Array.from({ length: random.int(2, 8) }, (_, i) => {
        const productId = random.pick(PRODUCTS) as string;
        const event: Record<string, unknown> = { eventId: `inv-w${w}-b${b}-${i}`, productId, occurredAt: at() };
        if (random.next() < 0.2) event.quantity = random.int(0, 40);
        else event.delta = random.pick([-5, -3, -1, 2, 4, 8]);
        return event;
      }),
    };
  }
  return {
    id: `w${w}-b${b}`,
    stream: 'activity',
    ack,
    events: Array.from({ length: random.int(4, 16) }, (_, i) => {
      const roll = random.next();
      const type = roll < 0.4 ? 'BROWSE' : roll < 0.6 ? 'ADD_TO_CART' : roll < 0.65 ? 'REMOVE_FROM_CART' : 'PURCHASE';
      const event: Record<string, unknown> = {
        eventId: `act-w${w}-b${b}-${i}`,
        userId: random.pick(USERS),
        type,
        productId: random.pick(PRODUCTS),
        occurredAt: at(),
      };
      if (type === 'PURCHASE') {
        event.quantity = random.int(1, 3);
        event.unitPrice = random.pick(PRICES);
        event.currency = random.pick(CURRENCIES);
        // Orders span batches now and then (b and b+1 share ids), so orders are counted across batches.
        if (random.next() < 0.8) event.orderId = `o-w${w}-${Math.floor(b / 2)}-${random.int(0, 3)}`;
      }
      return event;
    }),
  };
}

/**
 * Sends `batch` until a server acknowledges it or `giveUpAt()` passes. Acknowledged: an answer
 * with a report, or PROCESSING_TIMEOUT (stored, processing behind).
 */
export async function sendUntilAcknowledged(
  cluster: Cluster,
  ledger: Ledger,
  random: Random,
  batch: Batch,
  giveUpAt: () => number,
): Promise<boolean> {
  for (const event of batch.events) ledger.sent.set(event.eventId as string, event);
  ledger.batches++;
  const refused = (reason: string, message: string) => {
    ledger.refusals.set(reason, (ledger.refusals.get(reason) ?? 0) + 1);
    if (!ledger.refusalMessages.has(reason)) ledger.refusalMessages.set(reason, message);
  };
  while (Date.now() < giveUpAt()) {
    const node = random.pick(cluster.live());
    if (!node?.service) {
      await sleep(100);
      continue;
    }
    ledger.attempts++;
    const outcome = await post(node, batch);
    if (outcome.kind === 'ack' || outcome.kind === 'processing-timeout') {
      if (outcome.kind === 'processing-timeout') ledger.processingTimeouts++;
      else {
        const { accepted, duplicates, errors } = outcome.report;
        if (errors.length > 0 || accepted + duplicates !== batch.events.length) {
          ledger.badReports.push(`${batch.id}: ${JSON.stringify(outcome.report).slice(0, 300)}`);
        }
      }
      for (const event of batch.events) ledger.acknowledged.set(event.eventId as string, batch.stream);
      return true;
    }
    refused(outcome.reason, outcome.message);
    await sleep(random.int(50, 300));
  }
  ledger.unacknowledged++;
  return false;
}

type Report = { accepted: number; duplicates: number; errors: unknown[] };
type Outcome =
  | { kind: 'ack'; report: Report }
  | { kind: 'processing-timeout' }
  | { kind: 'refused'; reason: string; message: string };

async function post(node: Node, batch: Batch): Promise<Outcome> {
  const url = node.service?.url;
  if (!url) return { kind: 'refused', reason: 'no server', message: '' };
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query: MUTATION[batch.stream], variables: { e: batch.events, ack: batch.ack } }),
      // A paused server answers after SIGCONT; one that never answers is given up on.
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    let body: {
      data?: Record<string, Report | null> | null;
      errors?: Array<{ message?: string; path?: string[]; extensions?: { code?: string } }>;
    };
    try {
      body = JSON.parse(text);
    } catch {
      return { kind: 'refused', reason: `HTTP ${response.status}, not JSON`, message: text.slice(0, 200) };
    }
    const error = body.errors?.[0];
    if (error?.extensions?.code === 'PROCESSING_TIMEOUT') return { kind: 'processing-timeout' };
    if (error) {
      const detail = JSON.stringify({ path: error.path, extensions: error.extensions });
      return { kind: 'refused', reason: error.extensions?.code ?? 'error', message: `${error.message} ${detail}` };
    }
    const report = body.data?.recordActivity ?? body.data?.recordInventory;
    if (!report) return { kind: 'refused', reason: `HTTP ${response.status}, no report`, message: text.slice(0, 200) };
    return { kind: 'ack', report };
  } catch (error) {
    const { name, message } = error as Error;
    return {
      kind: 'refused',
      reason: name === 'TimeoutError' ? 'no answer in 30 s' : 'connection failed',
      message: `${message} ${String((error as { cause?: Error }).cause?.message ?? '')}`.trim(),
    };
  }
}

/** One subscription to follow; `key` names an item (an event, a warning, a window). */
export type StreamSpec = {
  name: string;
  /** The feed table its cursors are positions of, and the rows it shows (for the checks). */
  table: 'activity_events' | 'stock_warnings' | 'sales_windows';
  where?: string;
  query: string;
  variables?: Record<string, unknown>;
  field: string;
};

export const STREAMS: readonly StreamSpec[] = [
  {
    name: 'userActivity',
    table: 'activity_events',
    query: 'subscription ($after: String) { userActivity(after: $after) { eventId cursor } }',
    field: 'userActivity',
  },
  {
    name: 'stockWarnings',
    table: 'stock_warnings',
    query: 'subscription ($after: String) { stockWarnings(after: $after) { cursor productId kind quantity } }',
    field: 'stockWarnings',
  },
  ...(['MINUTE', 'HOUR', 'DAY'] as const).map(
    (size): StreamSpec => ({
      name: `salesUpdates(${size})`,
      table: 'sales_windows',
      where: `size = '${size}'`,
      query: `subscription ($after: String, $size: SalesWindowSize!) {
        salesUpdates(after: $after, size: $size) { cursor size start currency revenue orders units revision } }`,
      variables: { size },
      field: 'salesUpdates',
    }),
  ),
];

export type Received = Record<string, unknown> & { cursor: string };

/** A subscriber that follows one stream from the start of the feed, through any server, resuming from its cursor. */
export class Follower {
  readonly received: Received[] = [];
  cursor: string = encodeCursor(START);
  connections = 0;
  /** Ends the server sent, by code: GraphQL errors (RESYNC_REQUIRED, UNAVAILABLE, …) and socket closes (close 1013, …). */
  readonly serverErrors = new Map<string, number>();
  /** The first message of each of those codes. */
  readonly serverErrorMessages = new Map<string, string>();
  private stopped = false;
  private running: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(
    readonly spec: StreamSpec,
    private readonly cluster: Cluster,
    private readonly random: Random,
  ) {}

  start(): void {
    this.running = this.loop();
  }

  /** True once the last item received is at or past `head` (null: an empty feed). */
  reached(head: Position | null): boolean {
    return head === null || comparePositions(decodeCursor(this.cursor), head) >= 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const node = this.random.pick(this.cluster.live());
      if (!node?.service) {
        await sleep(100);
        continue;
      }
      await this.follow(node.service.url.replace(/^http/, 'ws'));
      await sleep(this.random.int(20, 200));
    }
  }

  private ended(code: string, message: string): void {
    this.serverErrors.set(code, (this.serverErrors.get(code) ?? 0) + 1);
    if (!this.serverErrorMessages.has(code)) this.serverErrorMessages.set(code, message);
  }

  /** One connection: until the server ends it, the socket drops, a planned reconnect, or stop(). */
  private async follow(wsUrl: string): Promise<void> {
    this.connections++;
    const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
    let active = true;
    await new Promise<void>((resolve) => {
      const end = () => {
        active = false;
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      this.wake = end;
      // Now and then a client goes away by itself (a closed tab, a deploy) and comes back with its cursor.
      const timer = setTimeout(end, this.random.int(3000, 12_000));
      client.subscribe(
        { query: this.spec.query, variables: { ...this.spec.variables, after: this.cursor } },
        {
          next: (result) => {
            if (!active) return;
            if (result.errors) {
              this.ended(String(result.errors[0]?.extensions?.code ?? 'error'), result.errors[0]?.message ?? '');
              return;
            }
            const item = (result.data as Record<string, Received>)[this.spec.field] as Received;
            this.received.push(item);
            this.cursor = item.cursor;
          },
          error: (error) => {
            // A socket closed by the server (a close frame), not one that just dropped (1006).
            const { code, reason } = error as { code?: number; reason?: string };
            if (active && typeof code === 'number' && code !== 1006) this.ended(`close ${code}`, reason ?? '');
            end();
          },
          complete: end,
        },
      );
    });
    await client.dispose();
  }
}
