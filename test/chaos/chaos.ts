// A chaos run (`npm run chaos`, and its short form in test/invariants/chaos.test.ts): servers on a
// private PostgreSQL and Redis, writers and followers (workload.ts) while the nemesis
// (nemesis.ts) injects faults; then everything heals, the processors and the followers catch up
// (waited for as conditions, each with a bound), and the checks (check.ts) count anomalies.
import { rm } from 'node:fs/promises';
import pg from 'pg';
import { type Anomaly, checkRun } from './check.js';
import { type Cluster, startCluster } from './cluster.js';
import { type FaultKind, runNemesis } from './nemesis.js';
import { seeded } from './random.js';
import {
  Follower,
  initialCounts,
  type Ledger,
  makeBatch,
  newLedger,
  STREAMS,
  sendUntilAcknowledged,
  timeBase,
} from './workload.js';

export type ChaosOptions = {
  seed: number;
  /** How long faults are injected (the run then heals and checks). */
  durationMs: number;
  servers: number;
  writers: number;
  /** Pause between faults, drawn in [min, max] ms. */
  faultIntervalMs: readonly [number, number];
  /** Bound of each wait of the healing phase (acknowledgements, processors, followers). */
  healTimeoutMs: number;
  /** Each writer's pause after an acknowledged batch, drawn in [min, max] ms (default 10-60). */
  paceMs?: readonly [number, number];
  log: (line: string) => void;
};

export type ChaosResult = {
  seed: number;
  /** Where the servers' logs were kept (only when anomalies were found). */
  logDir: string | null;
  faults: Record<FaultKind, number>;
  anomalies: Anomaly[];
  ledger: Ledger;
  followers: Array<{ stream: string; received: number; connections: number; serverErrors: Record<string, number> }>;
  elapsedMs: number;
};

export const DEFAULTS = {
  durationMs: 120_000,
  servers: 3,
  writers: 3,
  faultIntervalMs: [2000, 5000] as const,
  healTimeoutMs: 120_000,
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `condition` holds, checking every 200 ms; false if `timeoutMs` passed first. */
async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
}

/** The cluster of the run in progress. */
let current: Cluster | null = null;

/** Kills what a run in progress started (run.ts calls it on SIGINT and SIGTERM). */
export async function tearDown(): Promise<void> {
  await current?.destroy();
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now();
  const random = seeded(options.seed);
  const log = options.log;
  log(`chaos: seed ${options.seed}, ${options.servers} servers, ${options.durationMs / 1000} s of faults`);
  const cluster = await startCluster({ servers: options.servers, log });
  current = cluster;
  let clean = false;
  try {
    log(`chaos: PostgreSQL ${cluster.postgres.url}, Redis ${cluster.redis.url}, server logs in ${cluster.logDir}`);
    const ledger = newLedger();
    const base = timeBase();
    // Every product counted first (acknowledged once processed), before any fault.
    const initialBound = Date.now() + options.healTimeoutMs;
    if (!(await sendUntilAcknowledged(cluster, ledger, random.fork(), initialCounts(base), () => initialBound))) {
      throw new Error('the initial stock counts were never acknowledged');
    }

    const followers = STREAMS.map((spec) => new Follower(spec, cluster, random.fork()));
    for (const follower of followers) follower.start();

    const stopAt = Date.now() + options.durationMs;
    let faulting = true;
    // A batch is sent again until acknowledged, for as long as faults go on and a bound after.
    let faultsEndedAt = Number.POSITIVE_INFINITY;
    const giveUpAt = () => faultsEndedAt + options.healTimeoutMs;
    const writers = Array.from({ length: options.writers }, async (_, w) => {
      const mine = random.fork();
      for (let b = 0; faulting; b++) {
        await sendUntilAcknowledged(cluster, ledger, mine, makeBatch(mine, w, b, base), giveUpAt);
        // Paced, to leave the (shared) machine some room.
        await sleep(mine.int(...(options.paceMs ?? [10, 60])));
      }
    });
    const faults = await runNemesis(cluster, {
      random: random.fork(),
      until: stopAt,
      intervalMs: options.faultIntervalMs,
      log,
    });
    faulting = false;
    faultsEndedAt = Date.now();
    log(`chaos: faults over (${JSON.stringify(faults)}); healing`);
    await Promise.all(writers);
    log(
      `chaos: ${ledger.batches} batches, ${ledger.acknowledged.size} events acknowledged; waiting for the processors`,
    );

    const laggingProcessors = await waitForProcessors(cluster, options.healTimeoutMs);
    const db = new pg.Client({ connectionString: cluster.postgres.url });
    await db.connect();
    try {
      const laggingFollowers: string[] = [];
      for (const follower of followers) {
        const { rows } = await db.query<{ tx_id: string; seq: string }>(
          `SELECT tx_id::text, seq::text FROM ${follower.spec.table} ${follower.spec.where ? `WHERE ${follower.spec.where}` : ''}
            ORDER BY tx_id DESC, seq DESC LIMIT 1`,
        );
        const head = rows[0] ? { txId: BigInt(rows[0].tx_id), seq: BigInt(rows[0].seq) } : null;
        if (!(await until(() => follower.reached(head), options.healTimeoutMs))) {
          laggingFollowers.push(
            `${follower.spec.name}: at ${follower.cursor}, the feed's head is ${JSON.stringify(rows[0])}`,
          );
        }
      }
      await Promise.all(followers.map((follower) => follower.stop()));
      log('chaos: checking');
      const anomalies = await checkRun(db, {
        ledger,
        followers,
        laggingFollowers,
        laggingProcessors,
        unexpectedExits: cluster.unexpectedExits,
      });
      clean = anomalies.every((a) => a.count === 0);
      return {
        logDir: clean ? null : cluster.logDir,
        seed: options.seed,
        faults,
        anomalies,
        ledger,
        followers: followers.map((f) => ({
          stream: f.spec.name,
          received: f.received.length,
          connections: f.connections,
          serverErrors: Object.fromEntries(f.serverErrors),
        })),
        elapsedMs: Date.now() - started,
      };
    } finally {
      await db.end();
    }
  } finally {
    await cluster.destroy();
    current = null;
    // The servers' logs are kept for a run that found something (or failed), named in the report.
    if (clean) await rm(cluster.logDir, { recursive: true, force: true });
  }
}

/** Waits (bounded) until every processor has no lag on some live server; returns those still behind. */
async function waitForProcessors(cluster: Cluster, timeoutMs: number): Promise<string[]> {
  let behind: string[] = ['(no answer from any server)'];
  await until(async () => {
    const node = cluster.live()[0];
    if (!node?.service) return false;
    try {
      const response = await fetch(node.service.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ processors { processor log events } }' }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await response.json()) as {
        data?: { processors: Array<{ processor: string; log: string; events: number }> };
      };
      if (!body.data) return false;
      behind = body.data.processors
        .filter((p) => p.events > 0)
        .map((p) => `${p.processor} is ${p.events} events behind on the ${p.log} log`);
      return behind.length === 0;
    } catch {
      return false;
    }
  }, timeoutMs);
  return behind;
}

/** The report: faults per kind, what the clients did, and one row per check. */
export function formatResult(result: ChaosResult): string {
  const lines: string[] = [];
  const { ledger } = result;
  lines.push(`seed ${result.seed}, ${(result.elapsedMs / 1000).toFixed(0)} s in all`);
  lines.push('');
  lines.push('faults injected');
  for (const [kind, n] of Object.entries(result.faults)) lines.push(`  ${kind.padEnd(10)} ${String(n).padStart(5)}`);
  lines.push('');
  lines.push('workload');
  lines.push(
    `  batches ${ledger.batches}, attempts ${ledger.attempts}, events acknowledged ${ledger.acknowledged.size}`,
  );
  lines.push(`  PROCESSING_TIMEOUT answers (stored, counted as acknowledged): ${ledger.processingTimeouts}`);
  lines.push(`  batches never acknowledged: ${ledger.unacknowledged}`);
  const refusals = [...ledger.refusals].map(([reason, n]) => `${reason} ${n}`).join(', ');
  lines.push(`  refused or unanswered attempts (sent again): ${refusals || 'none'}`);
  for (const [reason, message] of ledger.refusalMessages) {
    if (message) lines.push(`    ${reason}: ${message.slice(0, 160)}`);
  }
  for (const f of result.followers) {
    const ends = Object.entries(f.serverErrors)
      .map(([code, n]) => `${code} ${n}`)
      .join(', ');
    lines.push(
      `  ${f.stream.padEnd(22)} received ${f.received}, over ${f.connections} connections${ends ? `, ended: ${ends}` : ''}`,
    );
  }
  lines.push('');
  const width = Math.max(...result.anomalies.map((a) => a.check.length));
  lines.push(`${'anomaly'.padEnd(width)}  count`);
  lines.push(`${'-'.repeat(width)}  -----`);
  for (const anomaly of result.anomalies) {
    lines.push(`${anomaly.check.padEnd(width)}  ${String(anomaly.count).padStart(5)}`);
    for (const example of anomaly.examples) lines.push(`    e.g. ${example}`);
  }
  const total = result.anomalies.reduce((sum, a) => sum + a.count, 0);
  lines.push('');
  lines.push(total === 0 ? 'no anomalies' : `${total} anomalies; the servers' logs are in ${result.logDir}`);
  return lines.join('\n');
}
