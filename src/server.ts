// Wires the parts into one service: createServer(config) → { start, stop, url }. Importing it
// starts nothing, so tests run the real server on a free port (port 0).
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { type Clock, systemClock } from './core/clock.js';
import { type Core, createCore } from './core/core.js';
import { createDb, type Db } from './db/client.js';
import { applyMigrations } from './db/migrate.js';
import { createInProcessFanout, type Fanout } from './feed/fanout.js';
import { createFeed, type Feed } from './feed/follow.js';
import { health, type Probe, readiness } from './http/health.js';
import { attachWebSocket } from './http/ws.js';
import { createGraphQLHandler, type GraphQLHandler } from './http/yoga.js';
import { createLogger, type Logger } from './log.js';
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
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health') return send(res, health(stopping));
    if (path === '/ready') return send(res, await readiness(running.db.pool, stopping));
    if (stopping)
      return send(
        res,
        graphqlError(503, 'SHUTTING_DOWN', 'the server is shutting down; retry on another instance or later'),
      );
    if (req.method === 'POST') {
      const length = req.headers['content-length'];
      if (length === undefined) {
        return send(res, graphqlError(411, 'LENGTH_REQUIRED', 'a POST needs a Content-Length header'));
      }
      if (Number(length) > config.http.maxBodyBytes) {
        return send(
          res,
          graphqlError(
            413,
            'PAYLOAD_TOO_LARGE',
            `the request body is ${length} bytes; the limit is ${config.http.maxBodyBytes} (MAX_BODY_BYTES)`,
          ),
        );
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
      const db = await createDb(config, log.child({ part: 'db' }));
      try {
        const { applied } = await applyMigrations(db.pool, { log: log.child({ part: 'migrate' }) });
        if (applied.length > 0) log.info({ applied }, 'migrations applied');
      } catch (error) {
        await db.close();
        throw error;
      }
      const fanout = createInProcessFanout();
      const feed = createFeed({ db: db.pool, fanout, log: log.child({ part: 'feed' }), ...config.feed });
      const core = createCore({ db, feed, fanout, clock, config });
      const yoga = createGraphQLHandler({
        schema,
        context: () => ({ core }),
        graphiql: config.http.graphiql,
        production: config.production,
        log: log.child({ part: 'graphql' }),
      });
      const http = createHttpServer();
      const running: Running = {
        db,
        fanout,
        feed,
        core,
        yoga,
        http,
        ws: attachWebSocket(http, yoga, log.child({ part: 'ws' })),
      };
      http.on('request', (req, res) => {
        handle(req, res, running).catch((error: unknown) => {
          log.error({ err: error }, 'request failed');
          if (!res.headersSent) send(res, graphqlError(500, 'INTERNAL_SERVER_ERROR', 'Unexpected error.'));
          else res.end();
        });
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
        await running.feed.close();
        await running.ws.operationsDone(Math.min(deadline, 2000));
        await running.ws.close();
        running.http.closeIdleConnections();
        await withTimeout(closed, Math.min(deadline, 2000), () => running.http.closeAllConnections());
        await running.yoga.dispose();
        await running.fanout.close();
        await running.db.close();
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
};

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
