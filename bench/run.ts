// `npm run bench` runs every scenario; `npm run bench -- <name> [<name>…]` runs those. Prints the
// table and writes bench/results/<timestamp>.json and bench/results/latest.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Result, Scenario } from './lib.js';
import { batchedIngest } from './scenarios/batched-ingest.js';
import { connections } from './scenarios/connections.js';
import { fanoutPerShopper } from './scenarios/fanout-per-shopper.js';
import { fanoutShared } from './scenarios/fanout-shared.js';
import { history } from './scenarios/history.js';
import { historyGrowth } from './scenarios/history-growth.js';
import { latency } from './scenarios/latency.js';
import { processingCore } from './scenarios/processing-core.js';
import { processingLag } from './scenarios/processing-lag.js';
import { reconnectStorm } from './scenarios/reconnect-storm.js';
import { singleIngest } from './scenarios/single-ingest.js';
import { slowConsumer } from './scenarios/slow-consumer.js';
import { sustained } from './scenarios/sustained.js';

const scenarios: Scenario[] = [
  batchedIngest,
  singleIngest,
  fanoutShared,
  latency,
  processingCore,
  reconnectStorm,
  connections,
  slowConsumer,
  fanoutPerShopper,
  history,
  sustained,
  historyGrowth,
  processingLag,
];

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = wanted.filter((w) => !scenarios.some((s) => s.name === w));
if (unknown.length > 0) {
  console.error(`unknown scenario ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const chosen = wanted.length > 0 ? scenarios.filter((s) => wanted.includes(s.name)) : scenarios;

const results: Result[] = [];
const failures: Array<{ scenario: string; error: string }> = [];
for (const scenario of chosen) {
  const started = performance.now();
  process.stderr.write(`▶ ${scenario.name} … `);
  try {
    const rows = await scenario.run();
    results.push(...rows);
    process.stderr.write(`${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  } catch (error) {
    failures.push({ scenario: scenario.name, error: String((error as Error).stack ?? error) });
    process.stderr.write(`failed: ${(error as Error).message}\n`);
  }
}

const fmt = (n: number | null) =>
  n === null || Number.isNaN(n) ? '—' : Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
const header = ['scenario', 'figure', 'value', 'baseline', 'ratio', 'target', 'met?'];
const lines = results.map((r) => [
  r.scenario,
  r.figure,
  `${fmt(r.value)} ${r.unit}`,
  r.baseline === null ? '—' : `${fmt(r.baseline)} (${r.baselineLabel})`,
  r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`,
  r.target,
  r.met === null ? '—' : r.met ? 'yes' : 'NO',
]);
console.log(`| ${header.join(' | ')} |\n| ${header.map(() => '---').join(' | ')} |`);
for (const line of lines) console.log(`| ${line.join(' | ')} |`);
for (const r of results) if (r.notes) console.log(`- ${r.scenario}: ${r.notes}`);
for (const f of failures) console.log(`- ${f.scenario}: FAILED ${f.error.split('\n')[0]}`);

const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
  freeGiB: +(freemem() / 2 ** 30).toFixed(1),
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
};
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const out = { at: new Date().toISOString(), machine, results, failures };
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', `${stamp}.json`), `${JSON.stringify(out, null, 2)}\n`);
writeFileSync(join(here, 'results', 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log(`machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, node ${machine.node}`);
process.exit(failures.length > 0 ? 1 : 0);
