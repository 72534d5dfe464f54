// `npm run demo`: the server (embedded PostgreSQL unless DATABASE_URL is set) with the shop
// simulator feeding it, until Ctrl-C. Prints the dashboard's URL. Simulator options pass through:
// `npm run demo -- --rate 100 --shoppers 500`.
import { ConfigError, loadConfig, loadDotEnv } from '../config.js';
import { createLogger } from '../log.js';
import { createServer } from '../server.js';
import { printHelpIfAsked } from './help.js';
import { SIMULATE_OPTIONS, simulateFromCommandLine } from './simulate.js';

printHelpIfAsked(`
Usage: npm run demo [-- simulator options]

Starts the server (the embedded database unless DATABASE_URL is set) with the shop simulator
feeding it, and prints the dashboard's URL; runs until Ctrl-C. Settings are read as by npm start.

${SIMULATE_OPTIONS.replace('(default 50)', '(default 20)').replace('(default 30)', '(default inf)')}
`);
loadDotEnv();
let config: ReturnType<typeof loadConfig>;
try {
  // Quieter than `npm start`: the progress line is the show. LOG_LEVEL still wins.
  config = loadConfig({ LOG_LEVEL: 'warn', ...process.env });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`shopstream: ${error.message}\n`);
  process.exit(1);
}

const server = createServer(config, { log: createLogger(config) });
try {
  await server.start();
} catch (error) {
  process.stderr.write(`shopstream: start-up failed: ${(error as Error).message}\n`);
  await server.stop().catch(() => {});
  process.exit(1);
}

const dashboard = server.url.replace(/\/graphql$/, '/');
process.stdout.write(
  `\nShopstream demo: open the dashboard at ${dashboard}\n(GraphiQL at ${server.url}, metrics at ${dashboard}metrics; Ctrl-C stops)\n\n`,
);
const code = await simulateFromCommandLine(['--duration', 'inf', '--rate', '20', ...process.argv.slice(2)], {
  url: server.url,
});
process.stdout.write('stopping the server…\n');
await server.stop();
process.exit(code);
