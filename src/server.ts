// Wires the parts into one service: createServer(config) → { start, stop, url }. Importing it
// starts nothing, so tests run the real server on a free port (port 0).
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { liveKeyIds } from './auth/api-keys.js';
import { createJwtVerifier } from './auth/jwt.js';
import { createRateLimiter } from './auth/rate-limit.js';
import { createAuthenticator, isLoopback } from './auth/viewer.js';
import { type Background, createBackground } from './background.js';
import type { Config } from './config.js';
import { type Clock, systemClock } from './core/clock.js';
import { type Core, createCore } from './core/core.js';
import { createDb, type Db } from './db/client.js';
import { applyMigrations } from './db/migrate.js';
import { createIpcFanout, createRedisFanout, type Fanout } from './feed/fanout.js';
import { createFeed, type Feed } from './feed/follow.js';
import { dashboardAssets } from './http/dashboard/assets.js';
import { GRAPHIQL_ASSET_PREFIX, graphiqlAsset } from './http/graphiql.js';
import { health, type Probe, readiness } from './http/health.js';
import { createMetrics, type Metrics, streamOf } from './http/metrics.js';
import { isOriginAllowed, ORIGIN_REFUSED } from './http/origin.js';
import { loadPersistedOperations } from './http/persisted-operations.js';
import { createPublishTimer } from './http/publish-latency.js';
import { REQUEST_ID_HEADER, requestIdFor } from './http/request-id.js';
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

  const handle = async (req: IncomingMessage, res: ServerResponse, running: Running) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/health') return send(res, health(stopping));
    if (path === '/ready')
      return send(res, await readiness(running.db.pool, stopping, () => running.core.processorLag()));
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': running.metrics.registry.contentType });
      return res.end(await running.metrics.registry.metrics());
    }
    if (req.method === 'GET' && (path === '/' || path === '/dashboard.js')) {
      // The live dashboard (GraphiQL stays at /graphql).
      const { page, script } = await dashboardAssets();
      const asset = path === '/' ? page : script;
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' });
      return res.end(asset.body);
    }
    if (req.method === 'GET' && config.http.graphiql && path.startsWith(GRAPHIQL_ASSET_PREFIX)) {
      const asset = await graphiqlAsset(path);
      if (!asset) return send(res, graphqlError(404, 'NOT_FOUND', `no GraphiQL asset at ${path}`));
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'public, max-age=86400' });
      return res.end(asset.body);
    }
    if (stopping) {
      return send(
        res,
        graphqlError(503, 'SHUTTING_DOWN', 'the server is shutting down; retry on another instance or later'),
      );
    }
    // A browser page of another site must not use a viewer's credentials or the open mode.
    if (!isOriginAllowed(req.headers.origin, req.headers.host, config.http.allowedOrigins)) {
      return refuse(res, running, 'origin', 403, 'FORBIDDEN_ORIGIN', ORIGIN_REFUSED);
    }
    if (req.method === 'POST') {
      // CSRF: a browser sends a cross-site POST without a preflight only as a form or text/plain.
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (!type || !JSON_TYPES.has(type)) {
        return refuse(
          res,
          running,
          'content_type',
          415,
          'UNSUPPORTED_MEDIA_TYPE',
          'a POST must have Content-Type: application/json (or application/graphql-response+json)',
        );
      }
      const length = req.headers['content-length'];
      if (length === undefined) {
        return send(res, graphqlError(411, 'LENGTH_REQUIRED', 'a POST needs a Content-Length header'));
      }
      if (Number(length) > config.http.maxBodyBytes) {
        const message = `the request body is ${length} bytes; the limit is ${config.http.maxBodyBytes} (MAX_BODY_BYTES)`;
        return refuse(res, running, 'body_size', 413, 'PAYLOAD_TOO_LARGE', message);
      }
    }
    return running.yoga(req, res);
  };

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
        onDelivered: (topic) => metrics.itemsDelivered.inc({ stream: streamOf(topic) }),
        onCaughtUp: (topic, readStartedAt, offered) => publishTimer.caughtUp(topic, readStartedAt, offered),
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
        onIngested: (stream, report) => {
          metrics.ingestedEvents.inc({ stream, outcome: 'accepted' }, report.accepted);
          metrics.ingestedEvents.inc({ stream, outcome: 'duplicate' }, report.duplicates);
          metrics.ingestedEvents.inc({ stream, outcome: 'rejected' }, report.errors.length);
        },
      });
      metrics.watch({ pool: db.pool, subscribers: () => feed.subscriberCounts(), lag: () => core.processorLag() });
      // Off unless OTEL_* configure it: then not even the OpenTelemetry SDK is loaded.
      const tracing = config.tracing
        ? await startTracing(config.tracing, {
            log: log.child({ part: 'tracing' }),
            flushTimeoutMs: Math.min(config.http.shutdownTimeoutMs, 5000),
          })
        : null;
      const yoga = createGraphQLHandler({
        schema,
        core,
        auth,
        rateLimiter: createRateLimiter({
          perSecond: config.limits.ingestEventsPerSecond,
          burst: config.limits.ingestBurst,
        }),
        metrics,
        config,
        log: log.child({ part: 'graphql' }),
        tracingPlugins: tracing?.plugins,
        persistedOperations,
      });
      const http = createHttpServer();
      const ws = attachWebSocket(http, {
        yoga,
        auth,
        liveKeys: (ids) => liveKeyIds(db.prisma, ids),
        limits: config.limits,
        allowedOrigins: config.http.allowedOrigins,
        metrics,
        log: log.child({ part: 'ws' }),
        persistedOperations,
      });
      const background =
        config.processing.background.length > 0 ? createBackground({ config, ipcFanout, log, onBatch }) : null;
      const running: Running = { db, fanout, feed, core, yoga, http, ws, metrics, background, tracing };
      http.on('request', (req, res) => {
        const requestId = requestIdFor(req.headers[REQUEST_ID_HEADER], config.http.trustRequestId);
        res.setHeader(REQUEST_ID_HEADER, requestId);
        runWithRequestId(requestId, () =>
          handle(req, res, running).catch((error: unknown) => {
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
      core.startWebhooks();
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
};

const JSON_TYPES = new Set(['application/json', 'application/graphql-response+json', 'application/graphql+json']);

/** Answers a request refused by a limit, and counts it. */
function refuse(
  res: ServerResponse,
  running: Running,
  limit: string,
  status: number,
  code: string,
  message: string,
): void {
  running.metrics.limitRefusals.inc({ limit });
  send(res, graphqlError(status, code, message));
}

function send(res: ServerResponse, probe: Probe): void {
  res.writeHead(probe.status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(probe.body));
}

function graphqlError(status: number, code: string, message: string): Probe {
  return { status, body: { errors: [{ message, extensions: { code } }] } };
}

async function withTimeout(promise: Promise<void>, ms: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  if ((await Promise.race([promise, timedOut])) === 'timeout') onTimeout();
  clearTimeout(timer);
}
