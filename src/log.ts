// Structured JSON logs (pino), one child logger per part: { part: 'feed' }. Every line logged
// while a request is handled carries its requestId (runWithRequestId). LOG_FORMAT=pretty prints
// readable lines for development instead.
import { AsyncLocalStorage } from 'node:async_hooks';
import { pino } from 'pino';
import { PinoPretty } from 'pino-pretty';
import type { Config } from './config.js';

export type Logger = pino.Logger;

const requestIds = new AsyncLocalStorage<string>();

/** Runs `fn` so that every log line written inside it (across awaits) has `requestId`. */
export function runWithRequestId<T>(requestId: string, fn: () => T): T {
  return requestIds.run(requestId, fn);
}

/** The id of the request being handled here, if any (tracing puts it on the request's span). */
export function currentRequestId(): string | undefined {
  return requestIds.getStore();
}

export function createLogger(config: Pick<Config, 'log'>, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level: config.log.level,
    base: { service: 'shopstream' },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Credentials must never reach the logs, wherever a header ends up in a log object.
    redact: ['req.headers.authorization', '*.authorization', 'authorization'],
    mixin: () => {
      const requestId = requestIds.getStore();
      return requestId ? { requestId } : {};
    },
  };
  // Synchronous, in this thread: no worker transport whose last lines a process.exit could lose.
  const stream =
    config.log.format === 'pretty'
      ? PinoPretty({
          sync: true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname,service',
          singleLine: true,
          destination: destination ?? 1,
        })
      : destination;
  return stream ? pino(options, stream) : pino(options);
}
