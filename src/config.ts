// Settings from the environment (and an optional .env), validated all at once: a bad setting
// stops start-up with a message naming every variable that is wrong. Imports nothing from src/.
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export type Config = Readonly<{
  http: Readonly<{
    host: string;
    port: number;
    /** Largest accepted request body, in bytes. */
    maxBodyBytes: number;
    graphiql: boolean;
    /** How long SIGTERM waits for in-flight work before closing anyway. */
    shutdownTimeoutMs: number;
  }>;
  db: Readonly<{
    /** Unset: the embedded PostgreSQL (PGlite) under dataDir. */
    url: string | undefined;
    dataDir: string;
    poolSize: number;
  }>;
  redisUrl: string | undefined;
  ingest: Readonly<{
    /** Most events one mutation may carry. */
    maxBatchSize: number;
    defaultCurrency: string;
  }>;
  inventory: Readonly<{ lowStockThreshold: number }>;
  feed: Readonly<{
    /** Items a subscriber of an event stream may have waiting before it must resync. */
    subscriberQueueLimit: number;
    /** Rows read from the database per replay page. */
    replayPageSize: number;
    /** A wake-up can be lost; the feed is re-read at least this often. */
    pollIntervalMs: number;
  }>;
  log: Readonly<{ level: LogLevel }>;
  production: boolean;
}>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Reads `.env` from the working directory into process.env (values already set win). */
export function loadDotEnv(path = '.env'): void {
  if (existsSync(path)) process.loadEnvFile(path);
}

/** Builds the Config from `env`; throws ConfigError listing every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const read = makeReaders(env, problems);

  const production = env.NODE_ENV === 'production';
  const host = read.string('HOST', '127.0.0.1');
  if (host !== 'localhost' && isIP(host) === 0) {
    problems.push(`HOST must be an IP address or localhost, got "${host}"`);
  }
  const databaseUrl = read.optionalUrl('DATABASE_URL', ['postgres:', 'postgresql:']);
  const redisUrl = read.optionalUrl('REDIS_URL', ['redis:', 'rediss:']);
  const currency = read.string('DEFAULT_CURRENCY', 'USD').toUpperCase();
  if (!isCurrencyCode(currency)) {
    problems.push(`DEFAULT_CURRENCY must be an ISO 4217 code such as USD, got "${currency}"`);
  }
  const level = read.string('LOG_LEVEL', 'info') as LogLevel;
  if (!LOG_LEVELS.includes(level)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  }

  const config: Config = {
    http: {
      host,
      port: read.int('PORT', 4000, { min: 0, max: 65535 }),
      maxBodyBytes: read.int('MAX_BODY_BYTES', 2 * 1024 * 1024, { min: 1024 }),
      graphiql: read.bool('GRAPHIQL', !production),
      shutdownTimeoutMs: read.int('SHUTDOWN_TIMEOUT_MS', 10_000, { min: 0 }),
    },
    db: {
      url: databaseUrl,
      dataDir: read.string('DATA_DIR', './data'),
      poolSize: read.int('DB_POOL_SIZE', 10, { min: 1, max: 1000 }),
    },
    redisUrl,
    ingest: {
      maxBatchSize: read.int('MAX_BATCH_SIZE', 1000, { min: 1, max: 100_000 }),
      defaultCurrency: currency,
    },
    inventory: {
      lowStockThreshold: read.int('LOW_STOCK_THRESHOLD', 10, { min: 0 }),
    },
    feed: {
      subscriberQueueLimit: read.int('SUBSCRIBER_QUEUE_LIMIT', 1000, { min: 1 }),
      replayPageSize: read.int('REPLAY_PAGE_SIZE', 500, { min: 1, max: 10_000 }),
      pollIntervalMs: read.int('FEED_POLL_INTERVAL_MS', 1000, { min: 10 }),
    },
    log: { level },
    production,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

/** ISO 4217 codes as known to this Node's ICU data. */
export function isCurrencyCode(code: string): boolean {
  return /^[A-Z]{3}$/.test(code) && CURRENCIES.has(code);
}

const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

function makeReaders(env: Env, problems: string[]) {
  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  return {
    string(name: string, fallback: string): string {
      return raw(name) ?? fallback;
    },
    int(name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
      const value = raw(name);
      if (value === undefined) return fallback;
      const n = Number(value);
      const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
      if (!/^-?\d+$/.test(value) || n < min || n > max) {
        problems.push(`${name} must be a whole number from ${min} to ${max}, got "${value}"`);
        return fallback;
      }
      return n;
    },
    bool(name: string, fallback: boolean): boolean {
      const value = raw(name)?.toLowerCase();
      if (value === undefined) return fallback;
      if (['1', 'true', 'yes', 'on'].includes(value)) return true;
      if (['0', 'false', 'no', 'off'].includes(value)) return false;
      problems.push(`${name} must be true or false, got "${value}"`);
      return fallback;
    },
    optionalUrl(name: string, protocols: string[]): string | undefined {
      const value = raw(name);
      if (value === undefined) return undefined;
      let protocol: string | undefined;
      try {
        protocol = new URL(value).protocol;
      } catch {
        protocol = undefined;
      }
      if (protocol === undefined || !protocols.includes(protocol)) {
        // Never echo the value: it may carry a password.
        problems.push(`${name} must be a URL starting with ${protocols.join(' or ')}//`);
        return undefined;
      }
      return value;
    },
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
