// The background worker: a child process that runs the processors named in BACKGROUND_PROCESSORS
// (by default the recommendations and the activity summaries) at a lower CPU priority. On two
// cores their catch-up otherwise takes the CPU that ingest and subscription delivery need; niced,
// it uses whatever those leave. Correctness does not depend on it: every processor follows its
// own checkpoint under its own lock (processing/runner.ts), wherever it runs.
//
// The server spawns it after its own start, with the server's own settings (sent over IPC, so a
// test's or a benchmark's settings reach it too), restarts it when it dies, and stops it on
// shutdown. Wake-ups cross over Redis when REDIS_URL is set, else over the IPC channel
// (createIpcFanout). The worker exits when the server's channel closes, so a server killed with
// -9 leaves no orphan.
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from './config.js';
import type { IpcFanout } from './feed/fanout.js';
import type { Logger } from './log.js';

/** Messages from the worker to the server (wake-ups, { wake }, are the fanout's). */
export type WorkerMessage =
  | { ready: true }
  | { failed: string }
  | { batch: [processor: string, events: number, ms: number] };
/** Messages from the server to the worker. */
export type ServerMessage = { start: Config } | { stop: true };

/** How long a new worker may take to connect and start following the logs. */
const START_TIMEOUT_MS = 60_000;
/** Restart delays after a crash: doubling from the first to the last, reset after a healthy minute. */
const RESTART_DELAY_MS = { first: 500, last: 30_000, healthyAfter: 60_000 };

export type BackgroundOptions = {
  config: Config;
  /** Null when wake-ups go through Redis. */
  ipcFanout: IpcFanout | null;
  log: Logger;
  onBatch?: (processor: string, events: number, ms: number) => void;
};

export type Background = {
  /** Resolves once the first worker follows the logs; rejects if it cannot start. */
  start(): Promise<void>;
  /** Lets the worker finish its batches (graceful), within `timeoutMs`, then kills it. */
  stop(timeoutMs: number): Promise<void>;
};

export function createBackground(options: BackgroundOptions): Background {
  const { log, config } = options;
  let child: ChildProcess | null = null;
  let stopping = false;
  let restartTimer: NodeJS.Timeout | null = null;
  let delay = RESTART_DELAY_MS.first;

  const spawnWorker = (): Promise<void> => {
    const started = Date.now();
    // The worker runs as this process does: the same loader (tsx in development) and entry kind.
    const worker = fork(workerEntry(), [], {
      execArgv: process.execArgv.filter((arg) => !arg.startsWith('--cpu-prof') && !arg.startsWith('--inspect')),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    child = worker;
    const detach = options.ipcFanout?.attach(worker);
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`the background worker did not start within ${START_TIMEOUT_MS} ms`));
        worker.kill('SIGKILL');
      }, START_TIMEOUT_MS);
      worker.on('message', (message: WorkerMessage) => {
        if ('ready' in message) {
          clearTimeout(timer);
          log.info({ pid: worker.pid, processors: config.processing.background }, 'background worker started');
          resolve();
        } else if ('failed' in message) {
          clearTimeout(timer);
          reject(new Error(`the background worker could not start: ${message.failed}`));
        } else if ('batch' in message) {
          options.onBatch?.(...message.batch);
        }
      });
      worker.once('exit', (code, signal) => {
        clearTimeout(timer);
        detach?.();
        if (child === worker) child = null;
        reject(new Error(`the background worker exited during start-up (code ${code}, signal ${signal})`));
        if (stopping) return;
        log.error({ code, signal, restartInMs: delay }, 'background worker exited; restarting it');
        if (Date.now() - started > RESTART_DELAY_MS.healthyAfter) delay = RESTART_DELAY_MS.first;
        restartTimer = setTimeout(() => {
          restartTimer = null;
          spawnWorker().catch((error: unknown) => log.error({ err: error }, 'background worker restart failed'));
        }, delay);
        delay = Math.min(delay * 2, RESTART_DELAY_MS.last);
      });
    });
    worker.send({ start: config } satisfies ServerMessage);
    return ready;
  };

  return {
    start: () => spawnWorker(),
    async stop(timeoutMs) {
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      const worker = child;
      if (!worker || worker.exitCode !== null || worker.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      if (worker.connected) worker.send({ stop: true } satisfies ServerMessage);
      else worker.kill('SIGTERM');
      const timer = setTimeout(() => {
        log.warn('background worker did not stop in time; killing it');
        worker.kill('SIGKILL');
      }, timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** background-worker.ts next to this file, or .js once built. */
function workerEntry(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), `background-worker${path.extname(here)}`);
}
