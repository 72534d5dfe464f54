// A private redis-server on a free port, so a test may stop and restart it without touching the
// machine's shared Redis (other test files use that one concurrently). Keeps nothing on disk.
import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from './ports.js';

export type PrivateRedis = {
  url: string;
  port: number;
  /** Kills the server (SIGKILL by default: an outage, not a goodbye). */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
};

const started = new Set<PrivateRedis>();

export async function startRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const redis: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      if (child) return;
      const spawned = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child = spawned;
      let output = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10_000);
        const fail = (error: Error) => {
          clearTimeout(timer);
          reject(new Error(`redis-server could not be started (is it installed?): ${error.message}`));
        };
        spawned.once('error', fail);
        spawned.once('exit', () => fail(new Error(output)));
        spawned.stdout?.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('Ready to accept connections')) {
            clearTimeout(timer);
            spawned.removeAllListeners('exit');
            resolve();
          }
        });
      });
    },
    async stop(signal = 'SIGKILL') {
      const running = child;
      child = null;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      running.kill(signal);
      await exited;
    },
  };
  await redis.start();
  started.add(redis);
  return redis;
}

/** Stops every private Redis this file started (call it in afterAll). */
export async function stopAllRedis(): Promise<void> {
  await Promise.all([...started].map((redis) => redis.stop()));
  started.clear();
}
