// The embedded database (PGlite over pglite-socket) through the pg driver, as the app uses it:
// migrations, transactions and the feed's snapshot functions through a pool of one; data kept
// across restarts; one process per data dir; reachable only by its own user (issue 18).
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedDatabaseInUseError, startEmbedded } from '../../src/db/embedded.js';
import { applyMigrations, migrationStatus } from '../../src/db/migrate.js';
import {
  CAN_RUN_AS_NOBODY,
  connectFromAnotherProcess,
  HAS_PROC,
  listeningTcpPorts,
  listeningUnixSockets,
} from '../helpers/sockets.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const EMBEDDED_MODULE = path.join(REPO, 'src/db/embedded.ts');

let root: string;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'shopstream-embedded-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function poolOfOne(connectionString: string): pg.Pool {
  return new pg.Pool({ connectionString, max: 1 });
}

async function insertEvents(pool: pg.Pool, ids: string[]): Promise<void> {
  await pool.query(
    `INSERT INTO activity_events (event_id, user_id, type, product_id, quantity, occurred_at)
     SELECT e, 'u1', 'BROWSE', 'p1', 1, now() FROM unnest($1::text[]) AS e`,
    [ids],
  );
}

describe('startEmbedded', () => {
  it('serves a migrated database to a pg pool of one, and keeps the data across restarts', async () => {
    const dataDir = path.join(root, 'restart');
    const first = await startEmbedded({ dataDir });
    expect(first.connectionString).toBe(
      `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(dataDir)}&port=5432`,
    );
    const pool = poolOfOne(first.connectionString);
    try {
      expect((await applyMigrations(pool)).applied.length).toBeGreaterThan(0);
      expect((await migrationStatus(pool)).pending).toEqual([]);

      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const { rows: tx } = await client.query<{ xid: string; xmin: string }>(
          `SELECT pg_current_xact_id()::text AS xid,
                  pg_snapshot_xmin(pg_current_snapshot())::text AS xmin`,
        );
        const { rows: inserted } = await client.query<{ event_id: string; tx_id: string }>(
          `INSERT INTO activity_events (event_id, user_id, type, product_id, quantity, occurred_at)
           SELECT e, u, 'PURCHASE', p, q, now()
             FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS t(e, u, p, q)
           RETURNING event_id, tx_id::text`,
          [
            ['e1', 'e2'],
            ['u1', 'u2'],
            ['p1', 'p2'],
            [1, 2],
          ],
        );
        await client.query('COMMIT');
        expect(inserted.map((row) => row.event_id)).toEqual(['e1', 'e2']);
        // The feed's position comes from the writing transaction's id (column default).
        expect(inserted.every((row) => row.tx_id === tx[0]?.xid)).toBe(true);
        expect(BigInt(tx[0]!.xmin)).toBeLessThanOrEqual(BigInt(tx[0]!.xid));
      } finally {
        client.release();
      }

      // A rolled-back transaction leaves nothing.
      const client2 = await pool.connect();
      try {
        await client2.query('BEGIN');
        await client2.query(
          `INSERT INTO activity_events (event_id, user_id, type, product_id, quantity, occurred_at)
           VALUES ('gone', 'u1', 'BROWSE', 'p1', 1, now())`,
        );
        await client2.query('ROLLBACK');
      } finally {
        client2.release();
      }
    } finally {
      await pool.end();
      await first.stop();
    }
    await first.stop(); // idempotent

    const second = await startEmbedded({ dataDir });
    const pool2 = poolOfOne(second.connectionString);
    try {
      expect(await applyMigrations(pool2)).toEqual({ applied: [] });
      const { rows } = await pool2.query<{ event_id: string }>(
        'SELECT event_id FROM activity_events ORDER BY event_id',
      );
      expect(rows.map((row) => row.event_id)).toEqual(['e1', 'e2']);
    } finally {
      await pool2.end();
      await second.stop();
    }
  });

  it('refuses a second open of the same data dir while the first runs, then allows it', async () => {
    const dataDir = path.join(root, 'twice');
    const first = await startEmbedded({ dataDir });
    try {
      const second = startEmbedded({ dataDir });
      await expect(second).rejects.toBeInstanceOf(EmbeddedDatabaseInUseError);
      await expect(second).rejects.toThrow(
        new RegExp(`already in use by process ${process.pid}.*set DATA_DIR to another folder`),
      );
    } finally {
      await first.stop();
    }
    const again = await startEmbedded({ dataDir });
    await again.stop();
  });

  it('refuses while another process holds the data dir, and takes over once it is killed', async () => {
    const dataDir = path.join(root, 'other-process');
    const child = await startHolder(dataDir);
    try {
      await expect(startEmbedded({ dataDir })).rejects.toThrow(new RegExp(`already in use by process ${child.pid}`));
    } finally {
      await kill(child);
    }
    // SIGKILL left its lock file and its socket behind: the pid is dead, so the lock is stale and
    // the socket file is replaced.
    const lock = JSON.parse(await fs.readFile(path.join(dataDir, 'embedded.lock'), 'utf8'));
    expect(lock.pid).toBe(child.pid);
    expect((await fs.stat(path.join(dataDir, '.s.PGSQL.5432'))).isSocket()).toBe(true);
    const db = await startEmbedded({ dataDir });
    const pool = poolOfOne(db.connectionString);
    try {
      const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM kept');
      expect(rows[0]?.n).toBe(1); // written by the killed process before it died
    } finally {
      await pool.end();
      await db.stop();
    }
  });

  it('takes over a lock file left by an earlier process with our own pid (pid 1 in containers)', async () => {
    const dataDir = path.join(root, 'same-pid');
    await fs.mkdir(dataDir, { recursive: true });
    await fs.writeFile(
      path.join(dataDir, 'embedded.lock'),
      JSON.stringify({ pid: process.pid, hostname: os.hostname(), startedAt: 'earlier', token: 'x' }),
    );
    const db = await startEmbedded({ dataDir });
    await db.stop();
    await expect(fs.access(path.join(dataDir, 'embedded.lock'))).rejects.toThrow();
  });

  it('trusts a lock from another host while it is refreshed, and takes it over once it is not', async () => {
    const dataDir = path.join(root, 'other-host');
    const lockFile = path.join(dataDir, 'embedded.lock');
    await fs.mkdir(dataDir, { recursive: true });
    await fs.writeFile(
      lockFile,
      JSON.stringify({ pid: 4242, hostname: 'elsewhere', startedAt: 'earlier', token: 'x' }),
    );
    await expect(startEmbedded({ dataDir })).rejects.toThrow(/in use by process 4242 on host elsewhere/);

    const longAgo = new Date(Date.now() - 10 * 60_000);
    await fs.utimes(lockFile, longAgo, longAgo);
    const db = await startEmbedded({ dataDir });
    await db.stop();
  });

  it('a pool of one reconnects at once after dropping a broken client', async () => {
    const db = await startEmbedded({ dataDir: path.join(root, 'reconnect') });
    const pool = poolOfOne(db.connectionString);
    try {
      for (let i = 0; i < 30; i++) {
        const client = await pool.connect();
        await client.query('SELECT 1');
        client.release(true); // what withTransaction does when ROLLBACK itself fails
      }
      // A transaction abandoned by a dropped socket is rolled back, not left open for the next.
      const client = await pool.connect();
      await client.query('BEGIN');
      await client.query('CREATE TABLE abandoned (id int)');
      client.release(true);
      const { rows } = await pool.query(`SELECT to_regclass('abandoned') AS t`);
      expect(rows[0]?.t).toBeNull();
      await applyMigrations(pool);
      await insertEvents(pool, ['r1', 'r2']);
      const { rows: events } = await pool.query('SELECT count(*)::int AS n FROM activity_events');
      expect(events[0]?.n).toBe(2);
    } finally {
      await pool.end();
      await db.stop();
    }
  });
});

const mode = async (file: string) => ((await fs.stat(file)).mode & 0o777).toString(8);
const socketDirOf = (connectionString: string) => new URL(connectionString).searchParams.get('host') as string;

describe('the embedded database is private (issue 18)', () => {
  it.skipIf(!HAS_PROC)('listens on an owner-only Unix socket in DATA_DIR and opens no TCP port', async () => {
    const dataDir = path.join(root, 'private');
    const tcpBefore = await listeningTcpPorts(process.pid);
    const db = await startEmbedded({ dataDir });
    try {
      expect(db.socketPath).toBe(path.join(dataDir, '.s.PGSQL.5432'));
      expect(await listeningTcpPorts(process.pid)).toEqual(tcpBefore);
      expect(await listeningUnixSockets(process.pid)).toContain(db.socketPath);
      expect(await mode(dataDir)).toBe('700');
      expect(await mode(db.socketPath)).toBe('600');
      // Its own user, from another process, connects as before.
      expect(await connectFromAnotherProcess({ host: dataDir, port: 5432 })).toMatchObject({ connected: true });
    } finally {
      await db.stop();
    }
    await expect(fs.access(db.socketPath)).rejects.toThrow(/ENOENT/);
  });

  it.skipIf(!CAN_RUN_AS_NOBODY)(
    'refuses a process of another user (nobody), which the modes alone keep out',
    async () => {
      // A parent everyone may enter, so nothing but DATA_DIR's own mode stands in the way.
      const open = path.join(root, 'open-parent');
      await fs.mkdir(open, { mode: 0o755 });
      await fs.chmod(root, 0o755);
      const dataDir = path.join(open, 'data');
      const db = await startEmbedded({ dataDir });
      try {
        const refused = await connectFromAnotherProcess({ host: dataDir, port: 5432 }, 'nobody');
        expect(refused).toMatchObject({ connected: false, code: 'EACCES' });
        expect(await connectFromAnotherProcess({ host: dataDir, port: 5432 }, 'me')).toMatchObject({ connected: true });
        // The control: with the modes opened, the same attempt gets in. So the refusal above was
        // the modes, not something else about running as nobody.
        await fs.chmod(dataDir, 0o755);
        await fs.chmod(db.socketPath, 0o666);
        expect(await connectFromAnotherProcess({ host: dataDir, port: 5432 }, 'nobody')).toMatchObject({
          connected: true,
        });
      } finally {
        await db.stop();
        await fs.chmod(root, 0o700);
      }
    },
  );

  it('makes an existing DATA_DIR that others could read owner-only', async () => {
    const dataDir = path.join(root, 'was-open');
    await fs.mkdir(dataDir, { mode: 0o755 });
    await fs.chmod(dataDir, 0o755);
    const db = await startEmbedded({ dataDir });
    try {
      expect(await mode(dataDir)).toBe('700');
    } finally {
      await db.stop();
    }
  });

  it('puts the socket of a DATA_DIR too long for a socket path in a private temporary directory, removed on stop', async () => {
    const dataDir = path.join(root, 'd'.repeat(110));
    const db = await startEmbedded({ dataDir });
    const socketDir = socketDirOf(db.connectionString);
    try {
      expect(path.dirname(socketDir)).toBe(os.tmpdir());
      expect(path.basename(socketDir)).toMatch(/^shopstream-db-/);
      expect(Buffer.byteLength(db.socketPath)).toBeLessThanOrEqual(107);
      expect(await mode(socketDir)).toBe('700');
      expect(await mode(db.socketPath)).toBe('600');
      expect(await mode(dataDir)).toBe('700');
      const pool = poolOfOne(db.connectionString);
      try {
        expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      } finally {
        await pool.end();
      }
    } finally {
      await db.stop();
    }
    await expect(fs.access(socketDir)).rejects.toThrow(/ENOENT/);
  });
});

describe('npm run db:migrate (src/cli/migrate.ts)', () => {
  it('migrates the embedded database under DATA_DIR, then reports it up to date', async () => {
    const dataDir = path.join(root, 'cli');
    const first = await runCli({ DATA_DIR: dataDir });
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toMatch(/applied \d+ migration\(s\): \d{14}_\w+/);
    const second = await runCli({ DATA_DIR: dataDir });
    expect(second).toMatchObject({ code: 0 });
    expect(second.stdout).toContain('database is up to date');
  });

  it('exits non-zero with a clear message when the data dir is in use', async () => {
    const dataDir = path.join(root, 'cli-locked');
    const db = await startEmbedded({ dataDir });
    try {
      const result = await runCli({ DATA_DIR: dataDir });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/db:migrate failed .*already in use by process/);
    } finally {
      await db.stop();
    }
  });
});

async function runCli(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/migrate.ts'], {
    cwd: REPO,
    env: { ...process.env, DATABASE_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

/** A separate process that opens the data dir, writes a row, says READY and waits. */
async function startHolder(dataDir: string): Promise<ChildProcess> {
  const script = `
    import(${JSON.stringify(EMBEDDED_MODULE)}).then(async ({ startEmbedded }) => {
      const pg = (await import('pg')).default;
      const db = await startEmbedded({ dataDir: process.env.HOLDER_DATA_DIR });
      const client = new pg.Client(db.connectionString);
      await client.connect();
      await client.query('CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)');
      await client.end();
      process.stdout.write('READY\\n');
      setInterval(() => {}, 60_000);
    });`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: REPO,
    env: { ...process.env, HOLDER_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`holder did not start:\n${output}`)), 20_000);
    child.stdout?.on('data', (chunk) => {
      output += chunk;
      if (output.includes('READY')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`holder exited with ${code}:\n${output}`));
    });
  });
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}
