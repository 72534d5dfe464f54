// Ingest rate per credential: a token bucket counted in events. A refused request is told how
// long to wait. In one process by default; with REDIS_URL the bucket lives in Redis, so the rate
// holds across every process of the cluster (a client cannot multiply it by spreading batches).
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';

export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

export type RateLimiter = {
  /** Takes `cost` tokens, or returns the seconds to wait before `cost` would be available. */
  take(credential: string, cost: number, now?: number): RateDecision | Promise<RateDecision>;
  close?(): Promise<void>;
};

export type RateOptions = { perSecond: number; burst: number };

/** Buckets idle for a minute are forgotten, so memory stays bounded by the credentials active lately. */
export function createRateLimiter(
  options: RateOptions,
): RateLimiter & { take(...args: Parameters<RateLimiter['take']>): RateDecision } {
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
      return { ok: false, retryAfterSeconds: retryAfter(cost, bucket.tokens, options) };
    },
  };
}

function retryAfter(cost: number, tokens: number, options: RateOptions): number {
  const needed = Math.min(cost, options.burst) - tokens;
  return Math.max(1, Math.ceil(needed / options.perSecond));
}

// The same bucket, atomically in Redis, on Redis's clock (the processes' clocks may differ).
// KEYS[1]: the bucket; ARGV: perSecond, burst, cost. Returns the tokens left, or -(tokens) - 1
// when refused (so that 0 tokens left and "refused with 0" differ).
const TAKE = `
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, at = burst, ms end
tokens = math.min(burst, tokens + math.max(0, ms - at) / 1000 * rate)
local ok = cost <= tokens
if ok then tokens = tokens - cost end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', ms)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 60000)
if ok then return tostring(tokens) end
return tostring(-tokens - 1)
`;

/**
 * The token bucket shared by every process through Redis. When Redis cannot answer (down,
 * restarting, slower than `timeoutMs`), the process falls back to its own bucket for that
 * request: ingest stays available, and the rate then holds per process, as without Redis.
 */
export function createRedisRateLimiter(
  options: RateOptions & { url: string; log: Logger; keyPrefix?: string; timeoutMs?: number },
): RateLimiter {
  const prefix = options.keyPrefix ?? 'shopstream:rate:';
  const local = createRateLimiter(options);
  const redis = new Redis(options.url, {
    connectionName: 'shopstream-rate',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.timeoutMs ?? 250,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  });
  redis.on('error', (error: Error) => options.log.debug({ err: error }, 'redis rate limiter connection error'));
  let warned = false;
  return {
    async take(credential, cost) {
      try {
        const left = Number(
          await redis.eval(TAKE, 1, `${prefix}${credential}`, options.perSecond, options.burst, cost),
        );
        warned = false;
        return left >= 0 ? { ok: true } : { ok: false, retryAfterSeconds: retryAfter(cost, -left - 1, options) };
      } catch (error) {
        if (!warned) options.log.warn({ err: error }, 'redis rate limiter unavailable; limiting per process meanwhile');
        warned = true;
        return local.take(credential, cost);
      }
    },
    async close() {
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}
