// Ingest rate per credential: a token bucket counted in events, per process. A refused request
// is told how long to wait. Buckets idle for a minute are forgotten, so memory stays bounded by
// the credentials active in the last minute.
export type RateLimiter = {
  /** Takes `cost` tokens, or returns the seconds to wait before `cost` would be available. */
  take(credential: string, cost: number, now?: number): { ok: true } | { ok: false; retryAfterSeconds: number };
};

export function createRateLimiter(options: { perSecond: number; burst: number }): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  let lastSweep = 0;
  return {
    take(credential, cost, now = Date.now()) {
      if (now - lastSweep > 60_000) {
        for (const [key, bucket] of buckets) if (now - bucket.at > 60_000) buckets.delete(key);
        lastSweep = now;
      }
      const bucket = buckets.get(credential) ?? { tokens: options.burst, at: now };
      bucket.tokens = Math.min(options.burst, bucket.tokens + ((now - bucket.at) / 1000) * options.perSecond);
      bucket.at = now;
      buckets.set(credential, bucket);
      if (cost <= bucket.tokens) {
        bucket.tokens -= cost;
        return { ok: true };
      }
      const needed = Math.min(cost, options.burst) - bucket.tokens;
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(needed / options.perSecond)) };
    },
  };
}
