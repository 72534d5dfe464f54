// The real server on a free port against a fresh database. Everything started here is stopped
// by disposeAll() (call it in afterAll), so no test leaves a socket or pool behind.
import { loadConfig } from '../../src/config.js';
import type { Clock } from '../../src/core/clock.js';
import type { Logger } from '../../src/log.js';
import { createServer, type Shopstream } from '../../src/server.js';
import { createTestDatabase } from './database.js';

export type TestServer = Shopstream & { databaseUrl: string; httpBase: string };

const leftovers: Array<() => Promise<void>> = [];

/** Starts a server on port 0. Pass `databaseUrl` to share a database between servers of one file. */
export async function startTestServer(
  options: { env?: Record<string, string>; databaseUrl?: string; clock?: Clock; log?: Logger } = {},
): Promise<TestServer> {
  let databaseUrl = options.databaseUrl;
  if (!databaseUrl) {
    const database = await createTestDatabase();
    leftovers.push(() => database.drop());
    databaseUrl = database.url;
  }
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    FEED_POLL_INTERVAL_MS: '200',
    // In this process, so that core.settle() covers every processor; test/api/background.test.ts
    // runs the worker.
    BACKGROUND_PROCESSORS: 'none',
    ...options.env,
  });
  const server = createServer(config, { clock: options.clock, log: options.log });
  await server.start();
  leftovers.unshift(() => server.stop());
  return Object.assign(server, { databaseUrl: databaseUrl as string, httpBase: server.url.replace(/\/graphql$/, '') });
}

/** Stops every server (newest first) and drops every database this file created. */
export async function disposeAll(): Promise<void> {
  while (leftovers.length > 0) await leftovers.shift()?.();
}
