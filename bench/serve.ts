// A Shopstream server in its own process for the benchmarks: the clients run in the parent, so
// client and server do not share an event loop. Settings come from the environment (the parent
// passes DATABASE_URL and the lifted limits); prints the URL as one JSON line, stops on SIGTERM.
import { loadConfig } from '../src/config.js';
import { createServer } from '../src/server.js';

const timing = process.env.BENCH_QUERY_TIMES ? await import('./query-times.js') : null;
const server = createServer(loadConfig(process.env));
await server.start();
process.stdout.write(`${JSON.stringify({ url: server.url, wsUrl: server.wsUrl })}\n`);
const stop = async () => {
  await server.stop();
  timing?.printQueryTimes();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
