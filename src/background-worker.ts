// Entry of the background worker (background.ts): runs the processors the server hands it, at a
// lower CPU priority, until the server says stop or its IPC channel closes. Like main.ts, an
// entry point: it owns its process.exit.
import os from 'node:os';
import { pino } from 'pino';
import type { ServerMessage, WorkerMessage } from './background.js';
import type { Config } from './config.js';
import { systemClock } from './core/clock.js';
import { type Core, createCore } from './core/core.js';
import { createDb, type Db } from './db/client.js';
import { createIpcFanout, createRedisFanout, type Fanout } from './feed/fanout.js';
import { createFeed } from './feed/follow.js';
import { createLogger } from './log.js';

/** Higher is lower priority (nice(1)); an unprivileged process may always lower its own. */
const NICENESS = 10;
/** The worker's connections: a batch per processor, the list builder, the lag reading. */
const POOL_SIZE = 4;

const send = (message: WorkerMessage) => {
  if (process.connected) process.send?.(message);
};

let running: { db: Db; fanout: Fanout; core: Core } | null = null;
let stopping: Promise<void> | null = null;
let log: pino.Logger = pino({ level: 'silent' });

process.on('message', (message: ServerMessage) => {
  if ('start' in message) {
    start(message.start).then(
      () => send({ ready: true }),
      (error: unknown) => {
        log.error({ err: error }, 'background worker start failed');
        send({ failed: error instanceof Error ? error.message : String(error) });
        process.exit(1);
      },
    );
  } else if ('stop' in message) {
    void stop(0);
  }
});
// The server is gone (stopped, or killed with -9): finish what is in flight and go.
process.on('disconnect', () => void stop(0));
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop(0));

async function start(config: Config): Promise<void> {
  try {
    os.setPriority(NICENESS);
  } catch {
    // Not permitted here (a container may forbid it): run at the server's priority.
  }
  log = createLogger(config).child({ part: 'background', pid: process.pid });
  const workerConfig: Config = {
    ...config,
    db: { ...config.db, poolSize: Math.min(config.db.poolSize, POOL_SIZE), readPoolSize: 1 },
    processing: {
      ...config.processing,
      run: config.processing.background,
      wakeDelayMs: config.processing.backgroundWakeDelayMs,
    },
  };
  const db = await createDb(workerConfig, log.child({ part: 'db' }));
  const ipc = config.redisUrl ? null : createIpcFanout();
  ipc?.attach(process);
  const fanout = config.redisUrl
    ? createRedisFanout({ url: config.redisUrl, log: log.child({ part: 'fanout' }) })
    : (ipc as Fanout);
  // The core wants a feed; the worker serves no subscriber, so it is never followed.
  const feed = createFeed({ db: db.pool, fanout, log, ...config.feed });
  const core = createCore({
    db,
    feed,
    fanout,
    clock: systemClock,
    config: workerConfig,
    log,
    onBatch: (processor, events, ms) => send({ batch: [processor, events, ms] }),
  });
  running = { db, fanout, core };
  await core.startProcessing();
}

function stop(code: number): Promise<void> {
  stopping ??= (async () => {
    try {
      if (running) {
        await running.core.drain();
        await running.fanout.close();
        await running.db.close();
      }
    } catch (error) {
      log.error({ err: error }, 'background worker stop failed');
      code = 1;
    }
    process.exit(code);
  })();
  return stopping;
}
