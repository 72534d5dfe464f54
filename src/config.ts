// Settings from the environment (and an optional .env), validated all at once: a bad setting
// stops start-up with a message naming every variable that is wrong. Imports nothing from src/.
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { IANAZone } from 'luxon';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
/** json: one JSON object a line (production); pretty: coloured, one readable line (development). */
export type LogFormat = 'json' | 'pretty';

export type Config = Readonly<{
  http: Readonly<{
    host: string;
    port: number;
    /** Largest accepted request body, in bytes. */
    maxBodyBytes: number;
    graphiql: boolean;
    /** How long SIGTERM waits for in-flight work before closing anyway. */
    shutdownTimeoutMs: number;
    /** Use a client's X-Request-Id (set by a proxy in front) instead of generating one. */
    trustRequestId: boolean;
    /** Browser origins allowed to call and to open WebSockets; null allows any. The page's own
     * origin (Origin matching Host) and requests without Origin (servers) are always allowed. */
    allowedOrigins: readonly string[] | null;
  }>;
  db: Readonly<{
    /** Unset: the embedded PostgreSQL (PGlite) under dataDir. */
    url: string | undefined;
    dataDir: string;
    poolSize: number;
    /** Connections of the separate pool for queries (history, sales, summaries), so that they cannot starve ingest and the processors. */
    readPoolSize: number;
    /** How long a query waits for a connection of its pool before it is answered BUSY. */
    poolWaitMs: number;
    /** A query running longer is cancelled by PostgreSQL (QUERY_TIMEOUT). */
    statementTimeoutMs: number;
    /** A connection left idle inside a transaction this long is closed by PostgreSQL. */
    idleInTransactionTimeoutMs: number;
  }>;
  redisUrl: string | undefined;
  ingest: Readonly<{
    /** Most events one mutation may carry. */
    maxBatchSize: number;
    defaultCurrency: string;
  }>;
  inventory: Readonly<{ lowStockThreshold: number }>;
  sales: Readonly<{
    /** A window's orderIds are kept until the latest sale (event time) is this far past its end, so that a late purchase of the same order is not counted again. */
    orderLatenessHours: number;
    /** The shop's IANA time zone: DAY windows run from its midnight to the next, HOUR windows start on its hour. */
    shopTimeZone: string;
  }>;
  salesAlerts: Readonly<{
    /** How unusual an hour must be to raise an alert: robust standard deviations from what is normal. */
    sensitivity: number;
    /** Orders an hour must normally have (a drop) or have (a spike) before its orders or revenue can alert. */
    minOrders: number;
    /** Units of one product an hour must have before a spike in them alerts. */
    minUnits: number;
    /** An HOUR window is judged once the activity log's watermark is this far past its end. */
    latenessMinutes: number;
    /** The same hour of the shop's week is compared over this many trailing weeks. */
    historyWeeks: number;
  }>;
  recommendations: Readonly<{
    /** How much one kind of action says about a shopper's interest; 0 ignores it. */
    weights: Readonly<{ browse: number; addToCart: number; purchase: number }>;
    /** A new action is paired with at most this many of the shopper's most recent other products,
     * and a list is built from at most this many: the bound on the cost of one event. */
    recentProducts: number;
    /** Related products read per recent product when a list is built. */
    partnersPerProduct: number;
    /** Actions this close in event time count as one session: their pair counts 1, older ones 0.5. */
    sessionMinutes: number;
    /** "Popular right now" sums the actions of this many hourly buckets, the current one included. */
    popularWindowHours: number;
  }>;
  processing: Readonly<{
    /** Events a processor applies in one transaction at most, per log. */
    batchSize: number;
    /** Backstop for a lost wake-up, and how often a process that does not own a processor looks again. */
    pollIntervalMs: number;
    /** How long a mutation with ack PROCESSED waits for the processors before PROCESSING_TIMEOUT. */
    processedTimeoutMs: number;
    /** Under a stream of small appends, how long a processor waits after a small batch so that the next grows. */
    lingerMs: number;
    /** How long the server's processors wait after a wake-up before their first batch, so that
     * the feed's readers go first (the background worker's use backgroundWakeDelayMs). */
    wakeDelayMs: number;
    /** The background worker's wakeDelayMs: its processors are the least urgent, so the first
     * milliseconds after a commit go to subscribers and the other processors. */
    backgroundWakeDelayMs: number;
    /** The processors this process runs (every process runs all by default; 'none' makes an ingest-only process). */
    run: readonly ProcessorName[];
    /** Of `run`, those handed to a background worker process at a lower CPU priority, so that
     * their catch-up never takes the CPU from ingest, delivery and the other processors. */
    background: readonly ProcessorName[];
  }>;
  feed: Readonly<{
    /** Items a subscriber of an event stream may have waiting before it must resync. */
    subscriberQueueLimit: number;
    /** Rows read from the database per replay page. */
    replayPageSize: number;
    /** A wake-up can be lost; the feed is re-read at least this often. */
    pollIntervalMs: number;
  }>;
  log: Readonly<{ level: LogLevel; format: LogFormat }>;
  production: boolean;
  auth: Readonly<{
    /** HS256 secret for shopper and staff JWTs. */
    jwtSecret: string | undefined;
    /** Or: verify JWTs with the keys published here. */
    jwksUrl: string | undefined;
    jwtIssuer: string | undefined;
    jwtAudience: string | undefined;
  }>;
  limits: Readonly<{
    maxQueryDepth: number;
    maxAliases: number;
    maxTokens: number;
    maxQueryCost: number;
    /** Operations in one HTTP request (GraphQL batching). */
    maxBatchOperations: number;
    maxWsConnections: number;
    /** Largest incoming WebSocket message, in bytes. */
    maxWsMessageBytes: number;
    maxWsConnectionsPerCredential: number;
    maxSubscriptionsPerConnection: number;
    connectionInitTimeoutMs: number;
    /** Token bucket per credential, in events: refill per second, and burst. */
    ingestEventsPerSecond: number;
    ingestBurst: number;
    /** How often open sockets are checked for revoked keys and expired tokens. */
    credentialCheckMs: number;
  }>;
  introspection: boolean;
  /** OpenTelemetry traces over OTLP/HTTP, from the standard OTEL_* variables; null: tracing is off. */
  tracing: Readonly<{ url: string; protocol: OtlpProtocol }> | null;
  persistedOperations: Readonly<{
    /** A JSON allowlist { hash: document }: when set, only those documents run (admins excepted). */
    file: string | undefined;
  }>;
  webhooks: Readonly<{
    /** Deliver to loopback and private addresses too (development, tests); refused by default. */
    allowPrivate: boolean;
    /** One attempt's time limit (connect, send, answer). */
    timeoutMs: number;
    /** Backoff before the first retry, in whole seconds (pg-boss's unit); then doubled each attempt, with jitter. */
    backoffBaseSeconds: number;
    /** A delivery is retried for this long after it was queued (or replayed), then kept as FAILED. */
    retryWindowMs: number;
    /** Failed attempts in a row after which an endpoint is disabled, with the reason stored. */
    disableAfterFailures: number;
    /** Deliveries one process sends at once. */
    concurrency: number;
    /** How often the delivery worker looks for due retries (new items also wake it). */
    pollIntervalMs: number;
    /** Delivered deliveries older than this are deleted (in bounded batches); FAILED ones are kept. */
    retentionHours: number;
  }>;
}>;

export type OtlpProtocol = 'http/protobuf' | 'http/json';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** The stream processors (src/core/processing/): names of their checkpoints and of PROCESSORS. */
export const PROCESSOR_NAMES = [
  'inventory',
  'sales',
  'recommendations',
  'activity-summaries',
  'catalogue',
  'sales-alerts',
] as const;
export type ProcessorName = (typeof PROCESSOR_NAMES)[number];
/**
 * With DATABASE_URL, the processors whose batches cost the most CPU (the co-occurrence walk and
 * its partner summaries; the funnel and top products; the sales alerts, which read every event) run in a background worker: measured on two
 * cores, batched ingest with ack STORED went from 6,700 to 16,700 events/s.
 */
const DEFAULT_BACKGROUND: readonly ProcessorName[] = ['recommendations', 'activity-summaries', 'sales-alerts'];

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
  const runText = read.string('PROCESSORS', 'all').toLowerCase();
  const run =
    runText === 'all' ? [...PROCESSOR_NAMES] : runText === 'none' ? [] : runText.split(',').map((n) => n.trim());
  const unknownProcessors = run.filter((n) => !(PROCESSOR_NAMES as readonly string[]).includes(n));
  if (unknownProcessors.length > 0) {
    problems.push(
      `PROCESSORS must be all, none or a comma-separated list of ${PROCESSOR_NAMES.join(', ')}, got "${runText}"`,
    );
  }
  // The embedded database is one session: a second process cannot connect to it.
  const backgroundDefault = databaseUrl ? DEFAULT_BACKGROUND.join(',') : 'none';
  const backgroundText = read.string('BACKGROUND_PROCESSORS', backgroundDefault).toLowerCase();
  const background = backgroundText === 'none' ? [] : backgroundText.split(',').map((n) => n.trim());
  if (background.some((n) => !(PROCESSOR_NAMES as readonly string[]).includes(n))) {
    problems.push(
      `BACKGROUND_PROCESSORS must be none or a comma-separated list of ${PROCESSOR_NAMES.join(', ')}, got "${backgroundText}"`,
    );
  } else if (background.length > 0 && !databaseUrl) {
    problems.push(
      'BACKGROUND_PROCESSORS needs DATABASE_URL: the embedded database takes one connection at a time, so a second process cannot use it',
    );
  }
  const level = read.string('LOG_LEVEL', 'info') as LogLevel;
  if (!LOG_LEVELS.includes(level)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  }
  const format = read.string('LOG_FORMAT', 'json').toLowerCase() as LogFormat;
  if (format !== 'json' && format !== 'pretty') {
    problems.push(`LOG_FORMAT must be json or pretty, got "${format}"`);
  }
  // Retries moved to pg-boss, which counts whole seconds and has no ceiling on its backoff.
  for (const gone of ['WEBHOOK_BACKOFF_BASE_MS', 'WEBHOOK_BACKOFF_MAX_MS']) {
    if (env[gone] !== undefined) {
      problems.push(`${gone} is no longer read: set WEBHOOK_BACKOFF_BASE_SECONDS (the first retry's delay) instead`);
    }
  }

  const config: Config = {
    http: {
      host,
      port: read.int('PORT', 4000, { min: 0, max: 65535 }),
      maxBodyBytes: read.int('MAX_BODY_BYTES', 2 * 1024 * 1024, { min: 1024 }),
      graphiql: read.bool('GRAPHIQL', !production),
      shutdownTimeoutMs: read.int('SHUTDOWN_TIMEOUT_MS', 10_000, { min: 0 }),
      trustRequestId: read.bool('TRUST_REQUEST_ID', false),
      allowedOrigins: readOrigins(read.optional('ALLOWED_ORIGINS'), production, problems),
    },
    db: {
      url: databaseUrl,
      dataDir: read.string('DATA_DIR', './data'),
      poolSize: read.int('DB_POOL_SIZE', 10, { min: 1, max: 1000 }),
      readPoolSize: read.int('DB_READ_POOL_SIZE', 4, { min: 1, max: 1000 }),
      poolWaitMs: read.int('POOL_WAIT_MS', 2000, { min: 1, max: 60_000 }),
      statementTimeoutMs: read.int('STATEMENT_TIMEOUT_MS', 10_000, { min: 100, max: 3_600_000 }),
      idleInTransactionTimeoutMs: read.int('IDLE_IN_TRANSACTION_TIMEOUT_MS', 60_000, { min: 1000, max: 3_600_000 }),
    },
    redisUrl,
    ingest: {
      maxBatchSize: read.int('MAX_BATCH_SIZE', 1000, { min: 1, max: 100_000 }),
      defaultCurrency: currency,
    },
    inventory: {
      lowStockThreshold: read.int('LOW_STOCK_THRESHOLD', 10, { min: 0 }),
    },
    sales: {
      orderLatenessHours: read.int('SALES_ORDER_LATENESS_HOURS', 168, { min: 1, max: 24 * 366 }),
      shopTimeZone: readTimeZone(read.string('SHOP_TIME_ZONE', 'UTC'), problems),
    },
    salesAlerts: {
      sensitivity: read.int('SALES_ALERT_SENSITIVITY', 4, { min: 1, max: 100 }),
      minOrders: read.int('SALES_ALERT_MIN_ORDERS', 20, { min: 1 }),
      minUnits: read.int('SALES_ALERT_MIN_UNITS', 20, { min: 1 }),
      latenessMinutes: read.int('SALES_ALERT_LATENESS_MINUTES', 5, { min: 0, max: 24 * 60 }),
      historyWeeks: read.int('SALES_ALERT_HISTORY_WEEKS', 4, { min: 1, max: 52 }),
    },
    recommendations: readRecommendations(read, problems),
    processing: {
      batchSize: read.int('PROCESSOR_BATCH_SIZE', 5000, { min: 1, max: 100_000 }),
      pollIntervalMs: read.int('PROCESSOR_POLL_INTERVAL_MS', 1000, { min: 10 }),
      processedTimeoutMs: read.int('PROCESSED_ACK_TIMEOUT_MS', 10_000, { min: 10 }),
      lingerMs: read.int('PROCESSOR_LINGER_MS', 10, { min: 0, max: 1000 }),
      wakeDelayMs: read.int('PROCESSOR_WAKE_DELAY_MS', 3, { min: 0, max: 1000 }),
      backgroundWakeDelayMs: read.int('BACKGROUND_WAKE_DELAY_MS', 5, { min: 0, max: 1000 }),
      run: run.filter((n): n is ProcessorName => (PROCESSOR_NAMES as readonly string[]).includes(n)),
      // Only what this process runs at all can be handed to its worker.
      background: PROCESSOR_NAMES.filter((n) => background.includes(n) && run.includes(n)),
    },
    feed: {
      subscriberQueueLimit: read.int('SUBSCRIBER_QUEUE_LIMIT', 1000, { min: 1 }),
      replayPageSize: read.int('REPLAY_PAGE_SIZE', 500, { min: 1, max: 10_000 }),
      pollIntervalMs: read.int('FEED_POLL_INTERVAL_MS', 1000, { min: 10 }),
    },
    log: { level, format },
    production,
    auth: {
      jwtSecret: read.optionalSecret('JWT_SECRET', 32),
      jwksUrl: read.optionalUrl('JWT_JWKS_URL', ['https:', 'http:']),
      jwtIssuer: read.optional('JWT_ISSUER'),
      jwtAudience: read.optional('JWT_AUDIENCE'),
    },
    limits: {
      maxQueryDepth: read.int('MAX_QUERY_DEPTH', 10, { min: 1, max: 100 }),
      maxAliases: read.int('MAX_ALIASES', 15, { min: 0, max: 1000 }),
      maxTokens: read.int('MAX_TOKENS', 2000, { min: 10 }),
      maxQueryCost: read.int('MAX_QUERY_COST', 10_000, { min: 1 }),
      maxBatchOperations: read.int('MAX_BATCH_OPERATIONS', 10, { min: 1, max: 1000 }),
      maxWsConnections: read.int('MAX_WS_CONNECTIONS', 10_000, { min: 1 }),
      maxWsMessageBytes: read.int('MAX_WS_MESSAGE_BYTES', 2 * 1024 * 1024, { min: 1024 }),
      maxWsConnectionsPerCredential: read.int('MAX_WS_CONNECTIONS_PER_CREDENTIAL', 100, { min: 1 }),
      maxSubscriptionsPerConnection: read.int('MAX_SUBSCRIPTIONS_PER_CONNECTION', 50, { min: 1 }),
      connectionInitTimeoutMs: read.int('CONNECTION_INIT_TIMEOUT_MS', 5000, { min: 100 }),
      ingestEventsPerSecond: read.int('INGEST_EVENTS_PER_SECOND', 5000, { min: 1 }),
      ingestBurst: read.int('INGEST_BURST', 20_000, { min: 1 }),
      credentialCheckMs: read.int('CREDENTIAL_CHECK_MS', 2000, { min: 50 }),
    },
    introspection: read.bool('INTROSPECTION', !production),
    tracing: readTracing(read, problems),
    persistedOperations: { file: read.optional('PERSISTED_OPERATIONS_FILE') },
    webhooks: {
      allowPrivate: read.bool('WEBHOOKS_ALLOW_PRIVATE', false),
      timeoutMs: read.int('WEBHOOK_TIMEOUT_MS', 10_000, { min: 100, max: 120_000 }),
      backoffBaseSeconds: read.int('WEBHOOK_BACKOFF_BASE_SECONDS', 5, { min: 1, max: 3600 }),
      retryWindowMs: read.int('WEBHOOK_RETRY_WINDOW_MS', 86_400_000, { min: 0, max: 30 * 86_400_000 }),
      disableAfterFailures: read.int('WEBHOOK_DISABLE_AFTER_FAILURES', 50, { min: 1, max: 100_000 }),
      concurrency: read.int('WEBHOOK_CONCURRENCY', 8, { min: 1, max: 100 }),
      pollIntervalMs: read.int('WEBHOOK_POLL_INTERVAL_MS', 1000, { min: 10 }),
      retentionHours: read.int('WEBHOOK_DELIVERY_RETENTION_HOURS', 168, { min: 1, max: 24 * 3660 }),
    },
  };
  if (config.limits.ingestBurst < config.ingest.maxBatchSize) {
    problems.push(
      `INGEST_BURST (${config.limits.ingestBurst}) must be at least MAX_BATCH_SIZE (${config.ingest.maxBatchSize}), or a full batch could never pass`,
    );
  }
  if (config.auth.jwtSecret && config.auth.jwksUrl) {
    problems.push('set JWT_SECRET or JWT_JWKS_URL, not both');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

function readRecommendations(read: ReturnType<typeof makeReaders>, problems: string[]): Config['recommendations'] {
  const weights = {
    browse: read.int('REC_WEIGHT_BROWSE', 1, { min: 0, max: 1000 }),
    addToCart: read.int('REC_WEIGHT_ADD_TO_CART', 3, { min: 0, max: 1000 }),
    purchase: read.int('REC_WEIGHT_PURCHASE', 5, { min: 0, max: 1000 }),
  };
  // The issue's rule: purchases and carts count most, browses least.
  if (weights.browse > weights.addToCart || weights.browse > weights.purchase) {
    problems.push(
      `REC_WEIGHT_BROWSE (${weights.browse}) must not exceed REC_WEIGHT_ADD_TO_CART (${weights.addToCart}) or REC_WEIGHT_PURCHASE (${weights.purchase})`,
    );
  }
  return {
    weights,
    recentProducts: read.int('REC_RECENT_PRODUCTS', 4, { min: 1, max: 200 }),
    partnersPerProduct: read.int('REC_PARTNERS_PER_PRODUCT', 20, { min: 1, max: 200 }),
    sessionMinutes: read.int('REC_SESSION_MINUTES', 30, { min: 1 }),
    popularWindowHours: read.int('REC_POPULAR_WINDOW_HOURS', 24, { min: 1, max: 24 * 31 }),
  };
}

/**
 * ALLOWED_ORIGINS: `*` allows any origin; a comma-separated list allows those (and the page's own).
 * Unset: any origin in development, only the page's own in production.
 */
function readOrigins(value: string | undefined, production: boolean, problems: string[]): readonly string[] | null {
  if (value === undefined) return production ? [] : null;
  if (value === '*') return null;
  const origins: string[] = [];
  for (const text of value
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '')) {
    let origin: string | null = null;
    try {
      const url = new URL(text);
      if ((url.protocol === 'http:' || url.protocol === 'https:') && url.origin === text.replace(/\/$/, '')) {
        origin = url.origin;
      }
    } catch {
      origin = null;
    }
    if (origin === null) {
      problems.push(
        `ALLOWED_ORIGINS must be * or a comma-separated list of origins such as https://shop.example.com (scheme, host and port only), got "${text}"`,
      );
    } else {
      origins.push(origin);
    }
  }
  return origins;
}

/** ISO 4217 codes as known to this Node's ICU data. */
export function isCurrencyCode(code: string): boolean {
  return /^[A-Z]{3}$/.test(code) && CURRENCIES.has(code);
}

/**
 * Tracing follows the OpenTelemetry SDK's variables: on when OTEL_TRACES_EXPORTER=otlp or an OTLP
 * endpoint is set, off with OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none. The endpoint rule is
 * the specification's: a traces endpoint is used as it is, a base endpoint gets /v1/traces.
 */
function readTracing(read: ReturnType<typeof makeReaders>, problems: string[]): Config['tracing'] {
  const disabled = read.bool('OTEL_SDK_DISABLED', false);
  const exporter = read.optional('OTEL_TRACES_EXPORTER')?.toLowerCase();
  const tracesEndpoint = read.optionalUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', ['http:', 'https:']);
  const endpoint = read.optionalUrl('OTEL_EXPORTER_OTLP_ENDPOINT', ['http:', 'https:']);
  const protocol = (
    read.optional('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? read.string('OTEL_EXPORTER_OTLP_PROTOCOL', 'http/protobuf')
  ).toLowerCase();
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    problems.push(
      `OTEL_EXPORTER_OTLP_PROTOCOL (or OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) must be http/protobuf or http/json (OTLP over HTTP; grpc is not shipped), got "${protocol}"`,
    );
  }
  if (exporter !== undefined && exporter !== 'otlp' && exporter !== 'none') {
    problems.push(`OTEL_TRACES_EXPORTER must be otlp or none (only the OTLP exporter is shipped), got "${exporter}"`);
  }
  const on = exporter === 'otlp' || (exporter === undefined && (tracesEndpoint ?? endpoint) !== undefined);
  if (disabled || !on) return null;
  const url = tracesEndpoint ?? `${(endpoint ?? 'http://localhost:4318').replace(/\/+$/, '')}/v1/traces`;
  return { url, protocol: protocol as OtlpProtocol };
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
    optional(name: string): string | undefined {
      return raw(name);
    },
    optionalSecret(name: string, minLength: number): string | undefined {
      const value = raw(name);
      if (value !== undefined && value.length < minLength) {
        problems.push(`${name} must be at least ${minLength} characters long (it signs tokens)`);
        return undefined;
      }
      return value;
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

function readTimeZone(name: string, problems: string[]): string {
  // Luxon's check (Intl underneath): the same library that computes the windows.
  if (!IANAZone.isValidZone(name)) {
    problems.push(
      `SHOP_TIME_ZONE must be an IANA time-zone name such as Europe/Berlin or America/New_York, got "${name}"`,
    );
    return 'UTC';
  }
  return name;
}
