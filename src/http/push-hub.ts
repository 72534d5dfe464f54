// Delivers feed subscriptions over graphql-ws by push (issue 14). The tailer offers each new feed
// row to its subscribers in one synchronous loop (follow.ts); a pushed subscriber hands the row
// straight to its group here, which executes the operation and serializes the `next` frame once
// per row, and every socket of the group gets that frame in the same turn. Only the operation id
// differs between sockets, so a frame is rebuilt only when the id changes, by concatenation,
// never by stringifying the payload again.
//
// graphql-ws still owns the protocol (handshake, ping/pong, complete, errors, close codes): it
// gets an iterator that yields nothing and finishes when the pushed stream ends, and its
// return() (client complete, socket closed) ends the pushed stream.
//
// Guarantees kept: a group is keyed by document, variables and viewer (role, user id), so it never
// mixes viewers who may see different rows; replay from a cursor, the bounded queue and conflation
// are the feed subscription's own (follow.ts), which queues while the socket is over
// SEND_HIGH_WATER_BYTES and ends the subscriber with RESYNC_REQUIRED past its queue limit.
import type { Socket } from 'node:net';
import type { ExecutionResult, GraphQLError } from 'graphql';
import type { WebSocket } from 'ws';
import type { DeferredWrites, FeedEnd, FeedSink } from '../feed/follow.js';
import type { Pushable } from './shared-execution.js';

/** Past this many bytes waiting on a socket, its subscriptions queue instead of writing. */
export const SEND_HIGH_WATER_BYTES = 256 * 1024;

export type MaskErrors = (errors: readonly GraphQLError[]) => readonly GraphQLError[];

type Group = {
  key: string;
  members: number;
  execute: Pushable['execute'];
  /** The last row executed and its payload (JSON), or the promise of it while it executes. */
  item: unknown;
  payload: string | Promise<string>;
  /** The last frame built from that payload, for the operation id `frameId`. */
  frameId: string | null;
  frame: Buffer | null;
};

export type PushHub = ReturnType<typeof createPushHub>;

export function createPushHub(options: { maskErrors: MaskErrors }) {
  const groups = new Map<string, Group>();

  const serialize = (result: ExecutionResult): string => {
    if (!result.errors) return JSON.stringify(result);
    // As Yoga's masking does on the pulled path: the client sees the masked errors only.
    return JSON.stringify({ data: result.data, errors: options.maskErrors(result.errors) });
  };

  const payloadOf = (execute: Pushable['execute'], item: unknown): string | Promise<string> => {
    const result = execute(item);
    return result instanceof Promise ? result.then(serialize) : serialize(result);
  };

  const join = (pushable: Pushable): Group => {
    let group = groups.get(pushable.group);
    if (!group) {
      group = {
        key: pushable.group,
        members: 0,
        execute: pushable.execute,
        item: undefined,
        payload: '',
        frameId: null,
        frame: null,
      };
      groups.set(pushable.group, group);
    }
    group.members++;
    return group;
  };

  const leave = (group: Group) => {
    if (--group.members === 0 && groups.get(group.key) === group) groups.delete(group.key);
  };

  return {
    /**
     * Serves `pushable` on `socket` under the operation `id`; the returned iterator is what
     * graphql-ws follows (it yields nothing; it ends when the stream does). `pulled` is the
     * iterator Yoga made for the same subscription: returned when the stream ends, so that its
     * end hooks run and the feed subscription is released.
     */
    attach(
      socket: WebSocket,
      id: string,
      pushable: Pushable,
      pulled: AsyncIterator<unknown>,
    ): AsyncIterableIterator<ExecutionResult> {
      return new PushedSubscription(socket, id, join(pushable), pushable, pulled, payloadOf, leave);
    },
  };
}

class PushedSubscription implements FeedSink<object>, AsyncIterableIterator<ExecutionResult> {
  private ended = false;
  private finish: ((result: IteratorResult<ExecutionResult>) => void) | null = null;
  /** Writes waiting for an asynchronous execution, in order (rare: feed resolvers are synchronous). */
  private chain: Promise<void> | null = null;
  private readonly frameStart: string;
  private readonly resume = () => this.pushable.feed.resume();

  constructor(
    private readonly socket: WebSocket,
    private readonly id: string,
    private readonly group: Group,
    private readonly pushable: Pushable,
    private readonly pulled: AsyncIterator<unknown>,
    private readonly payloadOf: (execute: Pushable['execute'], item: unknown) => string | Promise<string>,
    private readonly leave: (group: Group) => void,
  ) {
    this.frameStart = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
    pushable.feed.push(this);
  }

  /** One row: executed and serialized once per group, then written (see the file's head). */
  deliver(item: object): boolean {
    if (this.ended || this.socket.readyState !== this.socket.OPEN) return false;
    const group = this.group;
    if (group.item !== item) {
      group.item = item;
      group.payload = this.payloadOf(group.execute, item);
      group.frameId = null;
      group.frame = null;
    }
    const payload = group.payload;
    if (typeof payload !== 'string' || this.chain) {
      this.later(payload);
      return true;
    }
    if (group.frameId !== this.id) {
      group.frameId = this.id;
      group.frame = Buffer.from(`${this.frameStart}${payload}}`);
    }
    return this.write(group.frame as Buffer);
  }

  end(final: FeedEnd | null): void {
    if (this.ended) return;
    if (final && this.socket.readyState === this.socket.OPEN) {
      // The error (RESYNC_REQUIRED, UNAVAILABLE) is this subscriber's own: executed for it alone.
      const payload = this.payloadOf(this.group.execute, final);
      if (typeof payload === 'string' && !this.chain) this.write(Buffer.from(`${this.frameStart}${payload}}`));
      else this.later(payload);
    }
    const done = () => this.stop();
    if (this.chain) this.chain.then(done, done);
    else done();
  }

  /** Writes after the writes already waiting, once `payload` is known. */
  private later(payload: string | Promise<string>): void {
    this.chain = (this.chain ?? Promise.resolve()).then(async () => {
      const json = await payload;
      if (!this.ended) this.write(Buffer.from(`${this.frameStart}${json}}`));
    });
  }

  /** False when the socket is over its high-water mark: `resume` runs once this frame has left. */
  private write(frame: Buffer): boolean {
    const socket = this.socket;
    if (socket.readyState !== socket.OPEN) return false;
    coalesceFrames(socket);
    if (socket.bufferedAmount < SEND_HIGH_WATER_BYTES) {
      socket.send(frame, TEXT);
      return true;
    }
    socket.send(frame, TEXT, this.resume);
    return false;
  }

  /** Ends this pushed stream once: graphql-ws sees it done and sends `complete`. */
  private stop(): void {
    if (this.ended) return;
    this.ended = true;
    this.leave(this.group);
    // Ends Yoga's side of the subscription (its end hooks, the feed subscription); nothing to report.
    Promise.resolve(this.pulled.return?.()).catch(() => {});
    const finish = this.finish;
    this.finish = null;
    finish?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<ExecutionResult>> {
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  /** graphql-ws is done with it: the client completed, or the socket closed. */
  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.stop();
    return { value: undefined, done: true };
  }

  async throw(error?: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.stop();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

const TEXT = { binary: false } as const;

/** Past this many bytes corked on a socket, they leave at once (a long page of one stream). */
export const FLUSH_BYTES = 64 * 1024;

/** Sockets corked this turn, uncorked together at its end. */
let corked: Socket[] = [];

/** Sockets that have sent a frame this turn: their next frames of the turn are corked. */
let sentThisTurn = new WeakSet<Socket>();
let turnEndScheduled = false;

/** The sockets of the deferred writes whose offer is running (see deferWrites), if any. */
let deferring: Socket[] | null = null;

function endTurn(): void {
  turnEndScheduled = false;
  sentThisTurn = new WeakSet();
  const sockets = corked;
  corked = [];
  for (const raw of sockets) raw.uncork();
}

function scheduleTurnEnd(): void {
  if (turnEndScheduled) return;
  turnEndScheduled = true;
  setImmediate(endTurn);
}

/**
 * For the feed's tailer while it offers a backlog page after page (follow.ts): a socket first
 * written during `during` stays corked until `flush`, across pages, so a subscriber that gets one
 * item per page (a shopper's own stream among a thousand) gets its items of several pages in one
 * system call instead of one each. A socket with FLUSH_BYTES waiting writes them at once anyway.
 */
export function deferWrites(): DeferredWrites {
  const sockets: Socket[] = [];
  return {
    during(offer) {
      const outer = deferring;
      deferring = sockets;
      try {
        offer();
      } finally {
        deferring = outer;
      }
    },
    flush() {
      for (const raw of sockets.splice(0)) raw.uncork();
    },
  };
}

/**
 * Call before each frame sent on `socket`. A socket's first frame of a turn of the event loop
 * leaves at once: an item fanned out to a thousand sockets reaches the first while the others are
 * still being written, not after the whole loop. Its further frames of the turn (a page of items)
 * wait corked and leave together in one system call when the turn ends, or at FLUSH_BYTES.
 * `ws` has no public cork, so this reaches its net.Socket (`_socket`, stable across ws 7–8).
 */
export function coalesceFrames(socket: WebSocket): void {
  const raw = (socket as unknown as { _socket?: Socket })._socket;
  if (!raw) return;
  if (raw.writableCorked > 0) {
    if (raw.writableLength < FLUSH_BYTES) return;
    // Enough for one write: it leaves now, and the socket stays corked for what follows.
    raw.uncork();
    raw.cork();
    return;
  }
  if (deferring) {
    raw.cork();
    deferring.push(raw);
    return;
  }
  scheduleTurnEnd();
  if (!sentThisTurn.has(raw)) {
    sentThisTurn.add(raw);
    return;
  }
  raw.cork();
  corked.push(raw);
}
