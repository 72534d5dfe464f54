// A private PostgreSQL cluster in a temporary directory on a free port, so a test may stop and
// restart it (a database outage) without touching the machine's shared server, which other test
// files use concurrently. fsync is off: it is thrown away afterwards.
import { execFile } from 'node:child_process';
import { chownSync, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const run = promisify(execFile);

export type PrivatePostgres = {
  /** postgresql://postgres@127.0.0.1:port/postgres */
  url: string;
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and deletes its directory. */
  remove(): Promise<void>;
};

const created = new Set<PrivatePostgres>();

function binaries(): string {
  for (const version of ['17', '16', '15', '14']) {
    const dir = `/usr/lib/postgresql/${version}/bin`;
    if (existsSync(join(dir, 'initdb'))) return dir;
  }
  throw new Error('no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin');
}

/** initdb refuses to run as root; run the server's tools as the postgres user then. */
async function tool(name: string, args: string[]): Promise<void> {
  const path = join(binaries(), name);
  const asRoot = process.getuid?.() === 0;
  await run(asRoot ? 'runuser' : path, asRoot ? ['-u', 'postgres', '--', path, ...args] : args, { timeout: 30_000 });
}

export async function createPostgres(): Promise<PrivatePostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'shopstream-pg-'));
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, 'data');
  const port = await freePort();
  await tool('initdb', ['-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '-D', data]);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
  let running = false;
  const postgres: PrivatePostgres = {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await tool('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', '-t', '20', 'start']);
      running = true;
    },
    async stop(mode = 'fast') {
      if (!running) return;
      running = false;
      await tool('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '20', 'stop']);
    },
    async remove() {
      created.delete(postgres);
      await postgres.stop('immediate').catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  created.add(postgres);
  await postgres.start();
  return postgres;
}

/** Removes every private cluster this file created (call it in afterAll). */
export async function removeAllPostgres(): Promise<void> {
  await Promise.all([...created].map((postgres) => postgres.remove()));
}
