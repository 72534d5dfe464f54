// The system under test for `npm run chaos`: its own PostgreSQL cluster and redis-server on free
// 127.0.0.1 ports (the nemesis restarts them, so never the machine's shared ones), and N server
// processes started as `npm start` starts one (tsx src/main.ts), whatever runs inside them.
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPostgres, type PrivatePostgres } from '../helpers/postgres.js';
import { type ServiceProcess, startProcess } from '../helpers/process.js';
import { type PrivateRedis, startRedis } from '../helpers/redis.js';

export type Node = {
  name: string;
  /** Null while it is down (killed and not yet restarted). */
  service: ServiceProcess | null;
  paused: boolean;
  /** Set by the nemesis just before it kills the process, so that exit is not reported as a crash. */
  killing: boolean;
};

export type Cluster = {
  postgres: PrivatePostgres;
  redis: PrivateRedis;
  nodes: Node[];
  /** Nodes that are up and not paused. */
  live(): Node[];
  /** Exits nobody asked for: a server that died by itself. */
  unexpectedExits: string[];
  /** Where each server's output is kept (one file per node, every start appended). */
  logDir: string;
  /** Starts node `index` (again). */
  startNode(index: number): Promise<void>;
  destroyed(): boolean;
  /** Kills everything and deletes the database directory; safe to call twice. */
  destroy(): Promise<void>;
};

export async function startCluster(options: {
  servers: number;
  env?: Record<string, string>;
  log: (line: string) => void;
}): Promise<Cluster> {
  const [postgres, redis] = await Promise.all([createPostgres(), startRedis()]);
  const env = {
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url,
    LOG_LEVEL: 'info',
    ...options.env,
  };
  const nodes: Node[] = Array.from({ length: options.servers }, (_, i) => ({
    name: `s${i + 1}`,
    service: null,
    paused: false,
    killing: false,
  }));
  const unexpectedExits: string[] = [];
  let destroyed = false;
  const logDir = mkdtempSync(join(tmpdir(), 'shopstream-chaos-logs-'));

  const startNode = async (index: number) => {
    const node = nodes[index] as Node;
    const service = await startProcess(env, { timeoutMs: 120_000 });
    if (destroyed) {
      // Started while the run was being torn down: nothing may be left running.
      await service.stop('SIGKILL');
      throw new Error(`${node.name} started after the cluster was destroyed`);
    }
    node.service = service;
    node.paused = false;
    node.killing = false;
    const started = new Date().toISOString();
    service.child.once('exit', (code, signal) => {
      if (node.service === service) node.service = null;
      appendFileSync(
        join(logDir, `${node.name}.log`),
        `--- ${node.name} started ${started}, exited ${new Date().toISOString()} (code ${code}, signal ${signal})\n${service.output()}`,
      );
      if (!node.killing && !destroyed) {
        unexpectedExits.push(`${node.name} exited by itself (code ${code}, signal ${signal})`);
        options.log(
          `${node.name} exited by itself (code ${code}, signal ${signal}):\n${service.output().slice(-3000)}`,
        );
      }
    });
  };

  const cluster: Cluster = {
    postgres,
    redis,
    nodes,
    unexpectedExits,
    logDir,
    live: () => nodes.filter((node) => node.service !== null && !node.paused),
    startNode,
    destroyed: () => destroyed,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await Promise.all(
        nodes.map(async (node) => {
          const service = node.service;
          node.service = null;
          if (!service) return;
          // A stopped process still dies of SIGKILL; SIGCONT first so nothing is left frozen.
          service.child.kill('SIGCONT');
          await service.stop('SIGKILL');
        }),
      );
      await redis.stop().catch(() => {});
      await postgres.remove().catch(() => {});
    },
  };
  try {
    // One first, so that the migrations run once, then the others together.
    await startNode(0);
    await Promise.all(nodes.slice(1).map((_, i) => startNode(i + 1)));
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  return cluster;
}
