// Wake-ups between the writers and the feed's readers: "topic X has new rows". They carry no
// payload, so a lost one costs latency (the feed is re-read on a timer), never an item.
// In-process by default; with REDIS_URL, Redis pub/sub carries them between processes.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { FeedTopic } from './topics.js';

export type Fanout = {
  /** Tell every reader, in this process and (with Redis) in others, that `topic` moved. */
  publish(topic: FeedTopic): void;
  /** Returns the unsubscribe function. */
  subscribe(topic: FeedTopic, listener: () => void): () => void;
  close(): Promise<void>;
};

export function createInProcessFanout(): Fanout {
  const emitter = new EventEmitter();
  // One listener per feed source and process, but tests create many servers in one process.
  emitter.setMaxListeners(0);
  return {
    publish(topic) {
      // Listeners run later, so a publisher never waits for (or fails because of) readers.
      queueMicrotask(() => emitter.emit(topic));
    },
    subscribe(topic, listener) {
      emitter.on(topic, listener);
      return () => emitter.off(topic, listener);
    },
    async close() {
      emitter.removeAllListeners();
    },
  };
}

export type RedisFanoutOptions = {
  url: string;
  log: Logger;
  /** Channels are `${channelPrefix}${topic}`; processes that share a prefix wake each other. */
  channelPrefix?: string;
  /** Called when the subscriber connection goes up (true) or down (false), for metrics. */
  onConnectionChange?: (connected: boolean) => void;
};

/**
 * Redis pub/sub between processes: one publishing and one subscribing connection per process,
 * both reconnecting by themselves. Readers in this process are woken directly, so local delivery
 * never depends on Redis. What a Redis outage may lose is healed without a timer's delay:
 * after the subscriber reconnects it wakes every local reader (the feed is read again, so rows
 * committed elsewhere meanwhile arrive), and after the publisher reconnects it re-publishes the
 * topics whose wake-ups it could not send.
 */
export function createRedisFanout(options: RedisFanoutOptions): Fanout {
  const { log } = options;
  const prefix = options.channelPrefix ?? 'shopstream:wake:';
  // Our own messages come back through the pattern subscription; local readers were woken already.
  const origin = randomUUID();
  const local = createInProcessFanout();
  const topics = new Set<FeedTopic>();
  const unsent = new Set<FeedTopic>();
  let closing = false;

  const retryStrategy = (attempt: number) => Math.min(attempt * 100, 1000);
  // No offline queue: a wake-up that cannot be sent now is remembered in `unsent`, not buffered
  // without bound, and a mutation never waits for Redis.
  const publisher = new Redis(options.url, {
    connectionName: 'shopstream-publish',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy,
  });
  // Subscribed again by hand on every (re)connection, so that "subscribed" is known before the
  // catch-up wake-up below; auto-resubscribe would leave a window where a wake-up is missed.
  const subscriber = new Redis(options.url, {
    connectionName: 'shopstream-subscribe',
    autoResubscribe: false,
    retryStrategy,
  });

  let subscriberUp = false;
  let everUp = false;
  subscriber.on('ready', () => {
    subscriber.psubscribe(`${prefix}*`).then(
      () => {
        subscriberUp = true;
        options.onConnectionChange?.(true);
        if (everUp) log.info('redis fan-out reconnected; reading every feed for what was missed');
        everUp = true;
        // Whatever was committed elsewhere while we were away had its wake-up lost.
        for (const topic of topics) local.publish(topic);
      },
      (error: unknown) => log.warn({ err: error }, 'redis psubscribe failed; the connection will retry'),
    );
  });
  subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
    if (message === origin || !channel.startsWith(prefix)) return;
    const topic = channel.slice(prefix.length) as FeedTopic;
    if (topics.has(topic)) local.publish(topic);
  });
  subscriber.on('close', () => {
    if (!subscriberUp || closing) return;
    subscriberUp = false;
    options.onConnectionChange?.(false);
    log.warn('redis fan-out connection lost; reconnecting (the feed is polled meanwhile)');
  });
  publisher.on('ready', () => {
    for (const topic of [...unsent]) send(topic);
  });
  // Without listeners ioredis prints every failed reconnection attempt to the console.
  for (const connection of [publisher, subscriber]) {
    connection.on('error', (error: Error) => log.debug({ err: error }, 'redis connection error'));
  }

  const send = (topic: FeedTopic) => {
    unsent.delete(topic);
    if (publisher.status !== 'ready') {
      unsent.add(topic);
      return;
    }
    publisher.publish(`${prefix}${topic}`, origin).catch((error: unknown) => {
      unsent.add(topic);
      log.debug({ err: error, topic }, 'redis publish failed; sent again on reconnection');
    });
  };

  return {
    publish(topic) {
      local.publish(topic);
      send(topic);
    },
    subscribe(topic, listener) {
      topics.add(topic);
      return local.subscribe(topic, listener);
    },
    async close() {
      closing = true;
      await local.close();
      await Promise.all(
        [publisher, subscriber].map(async (connection) => {
          if (connection.status === 'ready') await connection.quit().catch(() => connection.disconnect());
          else connection.disconnect();
        }),
      );
    },
  };
}

/** One end of a parent↔child IPC channel: a ChildProcess in the server, `process` in its worker. */
export type IpcPeer = {
  readonly connected?: boolean;
  send?(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
};

export type IpcFanout = Fanout & {
  /** Relays wake-ups both ways with `peer` (a restarted worker is attached again); returns detach. */
  attach(peer: IpcPeer): () => void;
};

/**
 * Wake-ups between a server and its background worker (background.ts) when there is no Redis:
 * local readers are woken at once, and the peer gets each topic at most once per turn of the
 * event loop, so that a burst of commits costs one IPC message per topic, not one per commit.
 */
export function createIpcFanout(): IpcFanout {
  const local = createInProcessFanout();
  const peers = new Set<IpcPeer>();
  const pending = new Set<FeedTopic>();
  let flushing = false;

  const flush = () => {
    flushing = false;
    const wake = [...pending];
    pending.clear();
    for (const peer of peers) if (peer.connected !== false) peer.send?.({ wake });
  };

  return {
    publish(topic) {
      local.publish(topic);
      if (peers.size === 0) return;
      pending.add(topic);
      if (!flushing) {
        flushing = true;
        setImmediate(flush);
      }
    },
    subscribe: (topic, listener) => local.subscribe(topic, listener),
    attach(peer) {
      const onMessage = (message: unknown) => {
        const wake = (message as { wake?: unknown } | null)?.wake;
        if (Array.isArray(wake)) for (const topic of wake) local.publish(topic as FeedTopic);
      };
      peer.on('message', onMessage);
      peers.add(peer);
      return () => {
        peers.delete(peer);
        peer.off('message', onMessage);
      };
    },
    async close() {
      peers.clear();
      await local.close();
    },
  };
}
