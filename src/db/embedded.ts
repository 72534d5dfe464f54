// Embedded PostgreSQL (PGlite) served to the pg driver on a Unix socket that only this user can
// reach: one process at a time owns a data dir (pid lock file), its data survives stop() and
// restarts, and stop() is clean.
//
// Private, because the server has no password: a TCP port on 127.0.0.1 let any local process read
// the API-key table or add an admin key (issue 18). The socket is DATA_DIR/.s.PGSQL.5432 (the name
// the pg driver asks for with host=DATA_DIR), DATA_DIR is kept 0700 and the socket 0600, so only
// this user (and root) can connect; no TCP port is opened. A DATA_DIR too long for a socket path
// (~107 bytes) gets its socket in a fresh 0700 directory under os.tmpdir() instead.
//
// PGlite is ONE PostgreSQL session. pglite-socket lets several sockets share it and keeps an open
// BEGIN … COMMIT to its own socket, but outside explicit transactions it interleaves messages of
// different sockets: a large extended-protocol query (split across TCP reads) can be bound to
// another socket's unnamed statement ("bind message supplies 2 parameters, but prepared statement
// "" requires 1", reproduced), and SET, advisory locks and pg_backend_pid() are shared by all.
// So the app must use exactly one connection at a time: a pg.Pool with max 1.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { Logger } from 'pino';

export type EmbeddedDatabase = {
  /** `postgresql://postgres@localhost/postgres?host=<socket dir>&port=5432` (the query's host wins, as in libpq); a pg.Pool of max 1. */
  connectionString: string;
  /** The Unix socket the database listens on. */
  socketPath: string;
  /** Closes the socket server, then PGlite, then releases the lock. Idempotent. */
  stop(): Promise<void>;
};

/** Thrown when another live process already has the data dir open. */
export class EmbeddedDatabaseInUseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddedDatabaseInUseError';
  }
}

const LOCK_FILE = 'embedded.lock';
// PGlite's files live in a subfolder so the lock file is not inside PGDATA.
const PGDATA_DIR = 'pglite';
// One live session plus one still closing: a pool of one that drops a broken client connects again
// before the server has seen the old socket close, and with a limit of 1 that reconnect is refused
// ("Connection terminated unexpectedly", reproduced in half of rapid reconnects).
const MAX_SOCKETS = 2;

// Only names the socket file: the pg driver connects to `${host}/.s.PGSQL.${port}`.
const SOCKET_PORT = 5432;
const SOCKET_FILE = `.s.PGSQL.${SOCKET_PORT}`;
// sun_path holds 108 bytes on Linux (104 on macOS) with the closing NUL.
const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

// The owner touches its lock file this often; a lock from another host (whose pid cannot be
// checked) is stale once untouched for STALE_AFTER_MS, e.g. a container recreated under a new name.
const HEARTBEAT_MS = 10_000;
const STALE_AFTER_MS = 60_000;

// PGlite's own start parameters, with a smaller buffer pool: its default (160 MB) is most of an
// idle server's memory, and the embedded database serves one session of a small shop or a
// developer. Measured on reopening a data directory: 278 MB resident with the default, 162 MB.
const START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

/**
 * Runs initdb in a PGlite of its own, in a child process that then exits: the memory initdb takes
 * goes back to the system with the process. Closed in the server's own thread, it stayed resident
 * until a garbage collection that an idle server never runs (706 MB idle after a first start,
 * against 307 MB after a restart); in a worker thread, about 120 MB of it stayed with the process.
 */
async function initializeApart(pgdata: string): Promise<void> {
  // CommonJS code given to node itself, so that it runs the same under the TypeScript loader and built.
  const code = `const { PGlite } = require(process.env.PGLITE_ENTRY);
    PGlite.create({ dataDir: process.env.PGLITE_DATA, startParams: JSON.parse(process.env.PGLITE_PARAMS) })
      .then((db) => db.close())
      .catch((error) => { console.error(error); process.exit(1); });`;
  const child = spawn(process.execPath, ['-e', code], {
    env: {
      ...process.env,
      PGLITE_ENTRY: createRequire(import.meta.url).resolve('@electric-sql/pglite'),
      PGLITE_DATA: pgdata,
      PGLITE_PARAMS: JSON.stringify(START_PARAMS),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve(exitCode));
  });
  if (exitCode !== 0 || !(await isInitialized(pgdata))) {
    throw new Error(`initdb (PGlite) failed in ${pgdata} (exit code ${exitCode}): ${stderr.trim().slice(-500)}`);
  }
}

/** True once initdb has run in `pgdata` (PostgreSQL writes PG_VERSION there). */
async function isInitialized(pgdata: string): Promise<boolean> {
  return fs.access(path.join(pgdata, 'PG_VERSION')).then(
    () => true,
    () => false,
  );
}

// Locks this process holds: a lock file naming our own pid is ours only if it is in here,
// otherwise it was left by an earlier process that had the same pid (pid 1 in a container).
const heldLocks = new Set<string>();

export async function startEmbedded(options: { dataDir: string; log?: Logger }): Promise<EmbeddedDatabase> {
  const dataDir = path.resolve(options.dataDir);
  const log = options.log;
  await makePrivateDir(dataDir, log);
  const releaseLock = await acquireLock(dataDir, log);

  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  let socketDir: { dir: string; remove: () => Promise<void> } | undefined;
  try {
    const started = Date.now();
    socketDir = await privateSocketDir(dataDir, log);
    const socketPath = path.join(socketDir.dir, SOCKET_FILE);
    // A socket file left by a process that died: ours to replace, since we hold the lock.
    await fs.rm(socketPath, { force: true });
    const pgdata = path.join(dataDir, PGDATA_DIR);
    if (!(await isInitialized(pgdata))) {
      await initializeApart(pgdata);
      log?.info({ dataDir, ms: Date.now() - started }, 'embedded PostgreSQL (PGlite) data directory created');
    }
    db = await PGlite.create({ dataDir: pgdata, startParams: START_PARAMS });
    server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: MAX_SOCKETS });
    await server.start();
    // The directory already keeps others out; the mode says so on the socket itself too.
    await fs.chmod(socketPath, 0o600);
    log?.info(
      { dataDir, socket: socketPath, ms: Date.now() - started },
      'embedded PostgreSQL (PGlite) started on a private Unix socket; single session, use one connection',
    );
    const running = { db, server, socketDir };
    let stopping: Promise<void> | undefined;
    return {
      connectionString: `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(socketDir.dir)}&port=${SOCKET_PORT}`,
      socketPath,
      stop() {
        stopping ??= (async () => {
          try {
            await running.server.stop();
          } finally {
            try {
              await running.db.close();
            } finally {
              await running.socketDir.remove().catch(() => {});
              await releaseLock();
            }
          }
          log?.info({ dataDir }, 'embedded PostgreSQL stopped');
        })();
        return stopping;
      },
    };
  } catch (error) {
    await server?.stop().catch(() => {});
    await db?.close().catch(() => {});
    await socketDir?.remove().catch(() => {});
    await releaseLock();
    throw new Error(`could not start the embedded database in ${dataDir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * Creates `dir` 0700, or makes an existing one 0700 (with a warning): the database files and the
 * socket in it must be this user's alone. A directory of another user is refused.
 */
async function makePrivateDir(dir: string, log?: Logger): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const stat = await fs.stat(dir);
  const uid = process.getuid?.();
  if (uid !== undefined && uid !== 0 && stat.uid !== uid) {
    throw new Error(
      `DATA_DIR ${dir} belongs to another user (uid ${stat.uid}); the embedded database needs a directory of its own user (uid ${uid})`,
    );
  }
  if ((stat.mode & 0o077) !== 0) {
    await fs.chmod(dir, 0o700);
    log?.warn(
      { dataDir: dir, was: (stat.mode & 0o777).toString(8) },
      'DATA_DIR was readable by other users: made it owner-only (0700)',
    );
  }
}

/**
 * Where the socket goes: DATA_DIR itself, or, when that path would be too long for a socket, a
 * fresh 0700 directory under os.tmpdir() (mkdtemp: unpredictable name, removed by stop()).
 */
async function privateSocketDir(dataDir: string, log?: Logger): Promise<{ dir: string; remove: () => Promise<void> }> {
  if (fitsSocketPath(dataDir)) return { dir: dataDir, remove: async () => {} };
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'shopstream-db-'));
  await fs.chmod(dir, 0o700);
  if (!fitsSocketPath(dir)) {
    await fs.rm(dir, { recursive: true, force: true });
    throw new Error(
      `DATA_DIR (${dataDir}) and the temporary directory (${os.tmpdir()}) are both too long for a Unix socket path (at most ${MAX_SOCKET_PATH_BYTES} bytes with /${SOCKET_FILE}): use a shorter DATA_DIR`,
    );
  }
  log?.info(
    { dataDir, socketDir: dir },
    `DATA_DIR is too long for a Unix socket path (at most ${MAX_SOCKET_PATH_BYTES} bytes): the socket is in a private temporary directory`,
  );
  return { dir, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

function fitsSocketPath(dir: string): boolean {
  return Buffer.byteLength(path.join(dir, SOCKET_FILE)) <= MAX_SOCKET_PATH_BYTES;
}

type LockOwner = { pid: number; hostname: string; startedAt: string; token: string };

async function acquireLock(dataDir: string, log?: Logger): Promise<() => Promise<void>> {
  const file = path.join(dataDir, LOCK_FILE);
  const mine: LockOwner = {
    pid: process.pid,
    hostname: os.hostname(),
    startedAt: new Date().toISOString(),
    token: randomUUID(),
  };
  const content = `${JSON.stringify(mine)}\n`;
  // Written aside and hard-linked into place, so nobody ever reads a half-written lock file.
  const draft = `${file}.${process.pid}.${mine.token}`;
  await fs.writeFile(draft, content);
  try {
    for (let attempt = 1; attempt <= 5; attempt++) {
      if (await createExclusive(file, draft, content)) {
        heldLocks.add(file);
        const heartbeat = setInterval(() => {
          const now = new Date();
          fs.utimes(file, now, now).catch(() => {});
        }, HEARTBEAT_MS);
        heartbeat.unref();
        return async () => {
          clearInterval(heartbeat);
          heldLocks.delete(file);
          const current = await fs.readFile(file, 'utf8').catch(() => '');
          if (current === content) await fs.rm(file, { force: true });
        };
      }
      const held = await fs.readFile(file, 'utf8').catch((error) => {
        if (errorCode(error) === 'ENOENT') return undefined; // released meanwhile: try again
        throw error;
      });
      if (held === undefined) continue;
      const owner = parseOwner(held);
      if (owner && (await isAlive(file, owner))) {
        throw new EmbeddedDatabaseInUseError(
          `The embedded database in ${dataDir} is already in use by process ${owner.pid}` +
            `${owner.hostname === mine.hostname ? '' : ` on host ${owner.hostname}`}` +
            ` (since ${owner.startedAt}). Only one process can open it at a time: stop that` +
            ' process, set DATA_DIR to another folder, or set DATABASE_URL to use a PostgreSQL' +
            ` server. If that process is certainly gone, delete ${file}.`,
        );
      }
      // Stale. Renaming is atomic, so of several processes taking over only one moves it away.
      const aside = `${file}.stale.${process.pid}.${mine.token}`;
      try {
        await fs.rename(file, aside);
      } catch (error) {
        if (errorCode(error) === 'ENOENT') continue;
        throw error;
      }
      const moved = await fs.readFile(aside, 'utf8').catch(() => '');
      if (moved !== held) {
        // Another process replaced the stale lock between our read and rename: give it back.
        await fs.link(aside, file).catch(() => {});
      } else {
        log?.warn(
          { dataDir, stalePid: owner?.pid },
          'took over the lock of an embedded database whose process is gone',
        );
      }
      await fs.rm(aside, { force: true });
    }
    throw new EmbeddedDatabaseInUseError(`could not lock the embedded database in ${dataDir}: ${file} keeps changing`);
  } finally {
    await fs.rm(draft, { force: true });
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (typeof value.pid === 'number' && typeof value.hostname === 'string') {
      return {
        pid: value.pid,
        hostname: value.hostname,
        startedAt: String(value.startedAt),
        token: String(value.token),
      };
    }
  } catch {
    // not written by this module: treated as stale
  }
  return undefined;
}

async function createExclusive(file: string, draft: string, content: string): Promise<boolean> {
  try {
    await fs.link(draft, file);
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
  }
  // A file system without hard links: exclusive create, written right after.
  try {
    await fs.writeFile(file, content, { flag: 'wx' });
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return false;
    throw error;
  }
}

async function isAlive(file: string, owner: LockOwner): Promise<boolean> {
  if (owner.hostname !== os.hostname()) {
    const stat = await fs.stat(file).catch(() => undefined);
    return stat !== undefined && Date.now() - stat.mtimeMs < STALE_AFTER_MS;
  }
  if (owner.pid === process.pid) return heldLocks.has(file);
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM'; // alive, owned by another user
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
