// Wires the parts into one service: createServer(config) → { start, stop, url }. Importing it
// starts nothing, so tests run the real server on a free port (port 0).
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { liveKeyIds } from './auth/api-keys.js';
import { type ConnectionCaps, createLocalConnectionCaps, createRedisConnectionCaps } from './auth/connection-caps.js';
import { createJwtVerifier } from './auth/jwt.js';
import { createRateLimiter, createRedisRateLimiter, type RateLimiter } from './auth/rate-limit.js';
import { createAuthenticator, isLoopback } from './auth/viewer.js';
import { type Background, createBackground } from './background.js';
import type { Config } from './config.js';
import { type Clock, systemClock } from './core/clock.js';
import { type Core, createCore } from './core/core.js';
import { claimShopTimeZone } from './core/sales/time-zone.js';
import { createDb, type Db } from './db/client.js';
import { applyMigrations } from './db/migrate.js';
import { createIpcFanout, createRedisFanout, type Fanout } from './feed/fanout.js';
import { createFeed, type Feed } from './feed/follow.js';
import { createMetrics, type Metrics, streamOf } from './http/metrics.js';
import { loadPersistedOperations } from './http/persisted-operations.js';
import { createPublishTimer } from './http/publish-latency.js';
import { deferWrites } from './http/push-hub.js';
import { REQUEST_ID_HEADER, requestIdFor } from './http/request-id.js';
import { createRoutes, graphqlError, send } from './http/routes.js';
import { startTracing, type Tracing } from './http/tracing.js';
import { attachWebSocket } from './http/ws.js';
import { createGraphQLHandler, type GraphQLHandler } from './http/yoga.js';
import { createLogger, type Logger, runWithRequestId } from './log.js';
import { schema } from './schema/index.js';

export type ServerDeps = { log?: Logger; clock?: Clock };

export type Shopstream = {
  /** http://host:port/graphql, known after start(). */
  readonly url: string;
  /** ws://host:port/graphql */
  readonly wsUrl: string;
  readonly core: Core;
  start(): Promise<void>;
  /** Graceful: refuse new work, finish in-flight mutations, complete subscriptions, close the database. */
  stop(): Promise<void>;
};

export function createServer(config: Config, deps: ServerDeps = {}): Shopstream {
  const log = deps.log ?? createLogger(config);
  const clock = deps.clock ?? systemClock;
  let parts: Running | null = null;
  let stopping = false;
  let stopped: Promise<void> | null = null;

  const server: Shopstream = {
    url: '',
    wsUrl: '',
    get core() {
      if (!parts) throw new Error('the server is not started');
      return parts.core;
    },
    async start() {
      if (parts) throw new Error('the server is already started');
      // Checked before anything opens: a stale allowlist stops start-up with the entry at fault.
      const persistedOperations = config.persistedOperations.file
        ? await loadPersistedOperations(config.persistedOperations.file, schema)
        : undefined;
      if (persistedOperations) {
        log.info(
          { file: config.persistedOperations.file, operations: persistedOperations.size },
          'persisted operations only (admins may send documents)',
        );
      }
      const db = await createDb(config, log.child({ part: 'db' }));
      try {
        const { applied } = await applyMigrations(db.pool, { log: log.child({ part: 'migrate' }) });
        if (applied.length > 0) log.info({ applied }, 'migrations applied');
        // Stored windows of another zone cannot be mixed with new ones: refuse to start.
        await claimShopTimeZone(db.pool, config.sales.shopTimeZone);
      } catch (error) {
        await db.close();
        throw error;
      }
      const jwt = createJwtVerifier(config.auth);
      const auth = createAuthenticator({ prisma: db.prisma, jwt });
      if (await auth.isOpen()) {
        if (!isLoopback(config.http.host)) {
          await db.close();
          throw new Error(
            `refusing to listen on ${config.http.host} in open development mode: create an API key (npm run keys -- create --name <name> --role admin) or set JWT_SECRET first`,
          );
        }
        log.warn(
          'OPEN DEVELOPMENT MODE: no API key and no JWT setting exist, so every request is treated as an admin. Listening on loopback only. Create a key (npm run keys -- create) or set JWT_SECRET to end it.',
        );
      }
      const metrics = createMetrics();
      // With REDIS_URL, wake-ups reach the other processes too; the feed stays the source of truth.
      // Without it they reach this process's background worker over IPC (in-process if it has none).
      const ipcFanout = config.redisUrl ? null : createIpcFanout();
      const fanout = config.redisUrl
        ? createRedisFanout({
            url: config.redisUrl,
            log: log.child({ part: 'fanout' }),
            onConnectionChange: (up) => metrics.redisConnected.set(up ? 1 : 0),
          })
        : (ipcFanout as Fanout);
      const feed = createFeed({
        db: db.pool,
        fanout,
        log: log.child({ part: 'feed' }),
        ...config.feed,
        onResync: (table) => metrics.subscriberResyncs.inc({ feed: table }),
        onDelivered: (topic) => metrics.countDelivered(streamOf(topic)),
        onCaughtUp: (topic, readStartedAt, offered) => publishTimer.caughtUp(topic, readStartedAt, offered),
        deferWrites,
      });
      const publishTimer = createPublishTimer({
        observe: (topic, seconds) => metrics.commitToPublish.observe({ stream: streamOf(topic) }, seconds),
        isFollowed: (topic) => (feed.subscriberCounts().get(topic) ?? 0) > 0,
      });

      const onBatch = (processor: string, events: number, ms: number) => {
        metrics.processedEvents.inc({ processor }, events);
        metrics.processorBatchSeconds.observe({ processor }, ms / 1000);
      };
      // What this process hands to its background worker (background.ts) runs there, not here.
      const handedOff = new Set<string>(config.processing.background);
      const core = createCore({
        db,
        feed,
        // The core publishes a topic right after its COMMIT: that is where the latency starts.
        fanout: {
          ...fanout,
          publish(topic) {
            publishTimer.committed(topic);
            fanout.publish(topic);
          },
        },
        clock,
        config: {
          ...config,
          processing: { ...config.processing, run: config.processing.run.filter((name) => !handedOff.has(name)) },
        },
        log: log.child({ part: 'recommendations' }),
        webhookLog: log.child({ part: 'webhooks' }),
        onBatch,
        onRefused: (limit) => metrics.limitRefusals.inc({ limit }),
        onWebhookOutcome: (outcome) => metrics.webhookAttempts.inc({ outcome }),
        onIngested: (stream, report) => {
          metrics.ingestedEvents.inc({ stream, outcome: 'accepted' }, report.accepted);
          metrics.ingestedEvents.inc({ stream, outcome: 'duplicate' }, report.duplicates);
          metrics.ingestedEvents.inc({ stream, outcome: 'rejected' }, report.errors.length);
        },
      });
      metrics.watch({
        pool: db.pool,
        subscribers: () => feed.subscriberCounts(),
        lag: () => core.processorLag(),
        webhooks: () => core.webhookQueue(),
      });
      // Off unless OTEL_* configure it: then not even the OpenTelemetry SDK is loaded.
      const tracing = config.tracing
        ? await startTracing(config.tracing, {
            log: log.child({ part: 'tracing' }),
            flushTimeoutMs: Math.min(config.http.shutdownTimeoutMs, 5000),
          })
        : null;
      // With REDIS_URL the ingest rate per credential holds across every process.
      const rate = { perSecond: config.limits.ingestEventsPerSecond, burst: config.limits.ingestBurst };
      const rateLimiter: RateLimiter = config.redisUrl
        ? createRedisRateLimiter({ ...rate, url: config.redisUrl, log: log.child({ part: 'rate-limit' }) })
        : createRateLimiter(rate);
      const yoga = createGraphQLHandler({
        schema,
        core,
        auth,
        rateLimiter,
        metrics,
        config,
        log: log.child({ part: 'graphql' }),
        tracingPlugins: tracing?.plugins,
        persistedOperations,
      });
      const http = createHttpServer();
      const maxPerCredential = config.limits.maxWsConnectionsPerCredential;
      const connectionCaps: ConnectionCaps = config.redisUrl
        ? createRedisConnectionCaps({ url: config.redisUrl, max: maxPerCredential, log: log.child({ part: 'ws' }) })
        : createLocalConnectionCaps(maxPerCredential);
      const ws = attachWebSocket(http, {
        yoga,
        auth,
        liveKeys: (ids) => liveKeyIds(db.prisma, ids),
        limits: config.limits,
        allowedOrigins: config.http.allowedOrigins,
        metrics,
        log: log.child({ part: 'ws' }),
        persistedOperations,
        connectionCaps,
      });
      const background =
        config.processing.background.length > 0 ? createBackground({ config, ipcFanout, log, onBatch }) : null;
      const running: Running = {
        db,
        fanout,
        feed,
        core,
        yoga,
        http,
        ws,
        metrics,
        background,
        tracing,
        rateLimiter,
        connectionCaps,
      };
      const handle = createRoutes({
        config,
        pool: db.pool,
        processorLag: () => core.processorLag(),
        metrics,
        yoga,
        stopping: () => stopping,
      });
      http.on('request', (req, res) => {
        const requestId = requestIdFor(req.headers[REQUEST_ID_HEADER], config.http.trustRequestId);
        res.setHeader(REQUEST_ID_HEADER, requestId);
        runWithRequestId(requestId, () =>
          handle(req, res).catch((error: unknown) => {
            log.error({ err: error }, 'request failed');
            if (!res.headersSent) send(res, graphqlError(500, 'INTERNAL_SERVER_ERROR', 'Unexpected error.'));
            else res.end();
          }),
        );
      });
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(config.http.port, config.http.host, () => {
          http.off('error', reject);
          resolve();
        });
      });
      const { port } = http.address() as AddressInfo;
      const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
      Object.assign(server, { url: `http://${host}:${port}/graphql`, wsUrl: `ws://${host}:${port}/graphql` });
      parts = running;
      await core.startProcessing({ buildLists: !handedOff.has('recommendations') });
      await core.startWebhooks();
      await background?.start();
      log.info(
        { url: server.url, database: db.embedded ? `embedded (${config.db.dataDir})` : 'DATABASE_URL' },
        'shopstream listening',
      );
    },
    stop() {
      stopped ??= (async () => {
        stopping = true;
        const running = parts;
        if (!running) return;
        log.info('shutting down');
        const closed = new Promise<void>((resolve) => running.http.close(() => resolve()));
        const deadline = config.http.shutdownTimeoutMs;
        await withTimeout(running.core.drain(), deadline, () => log.warn('in-flight mutations did not finish in time'));
        await running.background?.stop(deadline);
        await running.feed.close();
        await running.ws.operationsDone(Math.min(deadline, 2000));
        await running.ws.close();
        running.http.closeIdleConnections();
        await withTimeout(closed, Math.min(deadline, 2000), () => running.http.closeAllConnections());
        await running.yoga.dispose();
        await running.fanout.close();
        await running.rateLimiter.close?.();
        await running.connectionCaps.close();
        await running.db.close();
        // Last, so that the spans of everything above are exported before the process exits.
        await running.tracing?.shutdown();
        log.info('stopped');
      })();
      return stopped;
    },
  };
  return server;
}

type Running = {
  db: Db;
  fanout: Fanout;
  feed: Feed;
  core: Core;
  yoga: GraphQLHandler;
  http: ReturnType<typeof createHttpServer>;
  ws: ReturnType<typeof attachWebSocket>;
  metrics: Metrics;
  background: Background | null;
  tracing: Tracing | null;
  rateLimiter: RateLimiter;
  connectionCaps: ConnectionCaps;
};

async function withTimeout(promise: Promise<void>, ms: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  if ((await Promise.race([promise, timedOut])) === 'timeout') onTimeout();
  clearTimeout(timer);
}
