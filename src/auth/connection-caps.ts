// WebSocket connections per credential (MAX_WS_CONNECTIONS_PER_CREDENTIAL). In one process by
// default; with REDIS_URL the count is kept in Redis for the whole cluster, so a client cannot
// multiply its share by connecting to every process.
//
// In Redis each credential has a sorted set of leases (one per open connection: this process's
// id and a number), scored by when the lease expires. A process renews its leases every
// LEASE_MS / 3, so the leases of a process that died (kill -9) lapse within LEASE_MS and stop
// counting, with no one to clean up after it.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';

export type Lease = { release(): void };

export type ConnectionCaps = {
  /** A lease for one more connection of `credential`, or null when it already has the maximum. */
  acquire(credential: string): Promise<Lease | null>;
  close(): Promise<void>;
};

export function createLocalConnectionCaps(max: number): ConnectionCaps & { count(credential: string): number } {
  const open = new Map<string, number>();
  return {
    count: (credential) => open.get(credential) ?? 0,
    async acquire(credential) {
      const count = open.get(credential) ?? 0;
      if (count >= max) return null;
      open.set(credential, count + 1);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          const left = (open.get(credential) ?? 1) - 1;
          if (left > 0) open.set(credential, left);
          else open.delete(credential);
        },
      };
    },
    async close() {},
  };
}

/** A lease counts this long after its last renewal. */
const LEASE_MS = 30_000;

// KEYS[1]: the credential's leases; ARGV: max, lease ms, member. 1 when taken, 0 when full.
const ACQUIRE = `
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`;

// KEYS: credentials' lease sets; ARGV[1]: lease ms, ARGV[i + 1]: this process's member in KEYS[i].
const RENEW = `
local now = redis.call('TIME')
local until_ms = now[1] * 1000 + math.floor(now[2] / 1000) + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', until_ms, ARGV[i + 1])
  redis.call('PEXPIRE', key, tonumber(ARGV[1]))
end
return #KEYS
`;

/**
 * Connection caps shared through Redis. When Redis cannot answer, a connection is counted in
 * this process only (as without Redis): connecting stays possible during an outage.
 */
export function createRedisConnectionCaps(options: {
  url: string;
  max: number;
  log: Logger;
  keyPrefix?: string;
  leaseMs?: number;
}): ConnectionCaps {
  const prefix = options.keyPrefix ?? 'shopstream:connections:';
  const leaseMs = options.leaseMs ?? LEASE_MS;
  const processId = randomUUID();
  const local = createLocalConnectionCaps(options.max);
  const held = new Map<string, string>(); // member → key
  let next = 0;
  const redis = new Redis(options.url, {
    connectionName: 'shopstream-connections',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 500,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  });
  redis.on('error', (error: Error) => options.log.debug({ err: error }, 'redis connection caps: connection error'));
  const renew = setInterval(() => {
    if (held.size === 0 || redis.status !== 'ready') return;
    const entries = [...held];
    redis
      .eval(RENEW, entries.length, ...entries.map(([, key]) => key), leaseMs, ...entries.map(([member]) => member))
      .catch((error: unknown) => options.log.debug({ err: error }, 'redis connection caps: renewal failed'));
  }, leaseMs / 3);
  renew.unref();

  return {
    async acquire(credential) {
      const key = `${prefix}${credential}`;
      const member = `${processId}:${++next}`;
      let taken: boolean;
      try {
        taken = Number(await redis.eval(ACQUIRE, 1, key, options.max, leaseMs, member)) === 1;
      } catch (error) {
        options.log.warn({ err: error }, 'redis connection caps unavailable; counting in this process meanwhile');
        return local.acquire(credential);
      }
      if (!taken) return null;
      held.set(member, key);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          held.delete(member);
          redis.zrem(key, member).catch(() => {
            // The lease lapses by itself within leaseMs.
          });
        },
      };
    },
    async close() {
      clearInterval(renew);
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}
