// Structured JSON logs (pino), one child logger per part: { part: 'feed' }.
import { pino } from 'pino';
import type { Config } from './config.js';

export type Logger = pino.Logger;

export function createLogger(config: Pick<Config, 'log'>): Logger {
  return pino({
    level: config.log.level,
    base: { service: 'shopstream' },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Credentials must never reach the logs, wherever a header ends up in a log object.
    redact: ['req.headers.authorization', '*.authorization', 'authorization'],
  });
}
