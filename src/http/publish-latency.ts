// Commit-to-publish latency: from a batch's COMMIT (when its wake-up is published) until this
// process's feed reader has read past it and offered its rows to subscribers. Only commits of this
// process, and only on topics someone follows, are timed: a topic nobody follows is not read, and
// a commit of another process has no local COMMIT time to start from.
import type { FeedTopic } from '../feed/topics.js';

export type PublishTimerOptions = {
  observe(topic: FeedTopic, seconds: number): void;
  /** Whether any subscriber follows `topic` now. */
  isFollowed(topic: FeedTopic): boolean;
  now?: () => number;
  /** Commit times kept per topic while the reader is behind; older ones are dropped (bounded memory). */
  maxPending?: number;
};

export function createPublishTimer(options: PublishTimerOptions) {
  const now = options.now ?? (() => performance.now());
  const maxPending = options.maxPending ?? 10_000;
  const pending = new Map<FeedTopic, number[]>();
  return {
    /** A batch that wrote to `topic` has committed. */
    committed(topic: FeedTopic): void {
      if (!options.isFollowed(topic)) return;
      let times = pending.get(topic);
      if (!times) {
        times = [];
        pending.set(topic, times);
      }
      times.push(now());
      if (times.length > maxPending) times.shift();
    },
    /**
     * The reader of `topic` has read everything committed before `readStartedAt` (a read that
     * starts after a COMMIT sees its rows). `offered`: false when nobody was listening.
     */
    caughtUp(topic: FeedTopic, readStartedAt: number, offered: boolean): void {
      const times = pending.get(topic);
      if (!times) return;
      const at = now();
      let done = 0;
      while (done < times.length && (times[done] as number) <= readStartedAt) {
        if (offered) options.observe(topic, (at - (times[done] as number)) / 1000);
        done++;
      }
      times.splice(0, done);
      if (times.length === 0) pending.delete(topic);
    },
  };
}

export type PublishTimer = ReturnType<typeof createPublishTimer>;
