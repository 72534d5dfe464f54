// Wake-ups between the writers and the feed's readers: "topic X has new rows". They carry no
// payload, so a lost one costs latency (the feed is re-read on a timer), never an item.
// In-process now; a Redis transport plugs in behind the same interface (REDIS_URL).
import { EventEmitter } from 'node:events';
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
