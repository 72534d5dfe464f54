// `npm run chaos`: a Jepsen-style run against real server processes, with faults, then the checks.
// Exit code 0 only when every anomaly count is 0. See README "Chaos testing".
import { printHelpIfAsked } from '../../src/cli/help.js';
import { DEFAULTS, formatResult, runChaos, tearDown } from './chaos.js';

printHelpIfAsked(`
Usage: npm run chaos -- [options]

Starts its own PostgreSQL cluster and redis-server on free 127.0.0.1 ports, several server
processes (tsx src/main.ts) on them, writers that send activity and inventory batches (and
send again what was not acknowledged) and subscribers that follow every stream and resume from
their cursors. A seeded nemesis kills -9 and restarts servers, pauses them (SIGSTOP/SIGCONT),
and restarts PostgreSQL and Redis. Then everything heals, and the run checks that no
acknowledged event was lost or stored twice, that no subscriber got an item twice, out of order
or missed one, that stock levels, warnings and sales windows equal a recomputation from the log,
and that every processor caught up. Prints the faults per kind and a table of anomalies; exits 1
if any count is not 0.

Options:
  --seed N          seed of the fault schedule and the data (default: random, printed)
  --duration S      seconds of faults (default ${DEFAULTS.durationMs / 1000})
  --servers N       server processes (default ${DEFAULTS.servers})
  --writers N       concurrent writers (default ${DEFAULTS.writers})
  --interval A-B    seconds between faults, drawn in [A, B] (default ${DEFAULTS.faultIntervalMs[0] / 1000}-${DEFAULTS.faultIntervalMs[1] / 1000})
  --heal-timeout S  bound of each wait while healing (default ${DEFAULTS.healTimeoutMs / 1000})
  --help            this text
`);

function option(name: string): string | undefined {
  const args = process.argv.slice(2);
  const index = args.indexOf(`--${name}`);
  if (index >= 0) return args[index + 1];
  return args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
}

function number(name: string, fallback: number, min: number): number {
  const text = option(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min) {
    process.stderr.write(`chaos: --${name} must be a number of at least ${min}, got "${text}"\n`);
    process.exit(2);
  }
  return value;
}

function interval(): readonly [number, number] {
  const text = option('interval');
  if (text === undefined) return DEFAULTS.faultIntervalMs;
  const [min, max] = text.split('-').map(Number) as [number, number];
  if (!(min > 0 && max >= min)) {
    process.stderr.write(`chaos: --interval must be A-B seconds with 0 < A <= B, such as 2-5, got "${text}"\n`);
    process.exit(2);
  }
  return [min * 1000, max * 1000];
}
const faultIntervalMs = interval();

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`chaos: ${signal}, stopping what was started\n`);
    void tearDown().finally(() => process.exit(130));
  });
}

const result = await runChaos({
  seed: number('seed', Math.floor(Math.random() * 2 ** 31), 0),
  durationMs: number('duration', DEFAULTS.durationMs / 1000, 1) * 1000,
  servers: number('servers', DEFAULTS.servers, 1),
  writers: number('writers', DEFAULTS.writers, 1),
  faultIntervalMs,
  healTimeoutMs: number('heal-timeout', DEFAULTS.healTimeoutMs / 1000, 1) * 1000,
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(`${formatResult(result)}\n`);
process.exit(result.anomalies.some((a) => a.count > 0) ? 1 : 0);
