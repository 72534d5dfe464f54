// The nemesis: on a seeded schedule, one fault at a time, each undone before the next: kill -9 a
// server and start it again, SIGSTOP a server then SIGCONT it, restart PostgreSQL (fast or
// immediate, i.e. a crash with recovery), restart Redis (killed: an empty one comes back).
// Kinds are drawn as shuffled rounds of all four, so even a short run meets every kind.
import type { Cluster, Node } from './cluster.js';
import type { Random } from './random.js';

export const FAULT_KINDS = ['kill', 'pause', 'postgres', 'redis'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export type NemesisOptions = {
  random: Random;
  /** No fault starts after this instant (Date.now()), unless one kind has not been met yet. */
  until: number;
  /** Pause between two faults, drawn in [min, max] ms. */
  intervalMs: readonly [number, number];
  log: (line: string) => void;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runNemesis(cluster: Cluster, options: NemesisOptions): Promise<Record<FaultKind, number>> {
  const { random } = options;
  const counts: Record<FaultKind, number> = { kill: 0, pause: 0, postgres: 0, redis: 0 };
  const between = (min: number, max: number) => Math.round(min + random.next() * (max - min));
  let round: FaultKind[] = [];
  let reviving: Promise<void> = Promise.resolve();
  const started = Date.now();
  const at = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

  for (;;) {
    await sleep(between(...options.intervalMs));
    // A slow machine may fit fewer faults into the time: the run goes on until it met every kind.
    if (Date.now() >= options.until && FAULT_KINDS.every((kind) => counts[kind] > 0)) break;
    if (round.length === 0) round = random.shuffle([...FAULT_KINDS]);
    const kind = round.shift() as FaultKind;
    switch (kind) {
      case 'kill': {
        // At most one server down at a time: the previous one must be back first.
        await reviving;
        const node = random.pick(cluster.nodes.filter((n) => n.service !== null));
        if (!node) continue;
        options.log(`${at()} nemesis: kill -9 ${node.name}`);
        await kill(node);
        // Restarted in the background (a start takes seconds), so other faults go on meanwhile,
        // and may hit its start-up (a database restart then fails it, and it is started again).
        reviving = revive(cluster, cluster.nodes.indexOf(node), (line) => options.log(`${at()} ${line}`));
        break;
      }
      case 'pause': {
        const node = random.pick(cluster.live());
        if (!node?.service) continue;
        const ms = between(500, 3000);
        options.log(`${at()} nemesis: SIGSTOP ${node.name} for ${ms} ms`);
        node.paused = true;
        node.service.child.kill('SIGSTOP');
        await sleep(ms);
        node.service?.child.kill('SIGCONT');
        node.paused = false;
        break;
      }
      case 'postgres': {
        const mode = random.next() < 0.5 ? 'fast' : 'immediate';
        const ms = between(300, 2000);
        options.log(`${at()} nemesis: PostgreSQL stop -m ${mode}, down for ${ms} ms`);
        await cluster.postgres.stop(mode);
        await sleep(ms);
        await cluster.postgres.start();
        break;
      }
      case 'redis': {
        const ms = between(300, 2000);
        options.log(`${at()} nemesis: Redis killed, down for ${ms} ms`);
        await cluster.redis.stop('SIGKILL');
        await sleep(ms);
        await cluster.redis.start();
        break;
      }
    }
    counts[kind]++;
  }
  await reviving;
  return counts;
}

/** Starts node `index` again, until it runs (a start fails while PostgreSQL is down) or the cluster is destroyed. */
async function revive(cluster: Cluster, index: number, log: (line: string) => void): Promise<void> {
  const node = cluster.nodes[index] as Node;
  for (let attempt = 1; node.service === null && !cluster.destroyed(); attempt++) {
    try {
      await cluster.startNode(index);
      log(`nemesis: ${node.name} is up again`);
    } catch (error) {
      log(`nemesis: ${node.name} did not start (attempt ${attempt}): ${(error as Error).message.slice(0, 300)}`);
      await sleep(500);
    }
  }
}

async function kill(node: Node): Promise<void> {
  const service = node.service;
  if (!service) return;
  node.killing = true;
  service.child.kill('SIGCONT');
  await service.stop('SIGKILL');
  node.service = null;
}
