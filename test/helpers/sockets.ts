// What a process exposes, read from Linux's /proc: its listening TCP ports and Unix sockets, and
// a connection attempt from a separate process, optionally as another user (setpriv, as root).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** True where /proc describes sockets (Linux). */
export const HAS_PROC = await fs
  .access('/proc/self/net/tcp')
  .then(() => true)
  .catch(() => false);

/** True when this process may run a child as user `nobody` (root, with util-linux's setpriv). */
export const CAN_RUN_AS_NOBODY =
  process.getuid?.() === 0 && spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0;

async function socketInodes(pid: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const fd of await fs.readdir(`/proc/${pid}/fd`)) {
    const link = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(link);
    if (match) inodes.add(match[1] as string);
  }
  return inodes;
}

/** The TCP ports (IPv4 and IPv6) process `pid` is listening on, sorted. */
export async function listeningTcpPorts(pid: number): Promise<number[]> {
  const inodes = await socketInodes(pid);
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    const text = await fs.readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // st 0A is LISTEN; the inode is the 10th column.
      if (cols[3] === '0A' && inodes.has(cols[9] as string)) {
        ports.push(Number.parseInt((cols[1] as string).split(':')[1] as string, 16));
      }
    }
  }
  return ports.sort((a, b) => a - b);
}

/** The paths of the Unix sockets process `pid` is listening on. */
export async function listeningUnixSockets(pid: number): Promise<string[]> {
  const inodes = await socketInodes(pid);
  const text = await fs.readFile(`/proc/${pid}/net/unix`, 'utf8');
  const paths: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    // Flags 00010000 is __SO_ACCEPTCON: a listening socket; the inode is the 7th column.
    if (cols[3] === '00010000' && inodes.has(cols[6] as string) && cols[7]) paths.push(cols[7]);
  }
  return paths;
}

export type ConnectResult = { connected: true; user: string } | { connected: false; code: string; message: string };

/**
 * Connects with the pg driver from a separate Node process (as user `nobody` when asked) to the
 * PostgreSQL at `host` (a socket directory) and `port`, and reports what happened.
 */
export async function connectFromAnotherProcess(
  options: { host: string; port: number },
  as: 'me' | 'nobody' = 'me',
): Promise<ConnectResult> {
  // As nobody, only Node's own modules: a checkout may sit in a directory only its owner can
  // read (a CI clone in a 0700 temporary directory), so nobody could not load the pg driver. The
  // StartupMessage is written by hand, and the server's first answer tells: 'R' (authentication)
  // means the connection was accepted.
  const raw = `
    const net = require('node:net');
    const socket = net.connect(require('node:path').join(process.env.PG_HOST, '.s.PGSQL.' + process.env.PG_PORT));
    const report = (result) => { console.log(JSON.stringify(result)); socket.destroy(); };
    socket.on('connect', () => {
      const params = Buffer.from('user\\0postgres\\0database\\0postgres\\0\\0', 'binary');
      const message = Buffer.alloc(8 + params.length);
      message.writeInt32BE(message.length, 0);
      message.writeInt32BE(196608, 4);
      params.copy(message, 8);
      socket.write(message);
    });
    socket.once('data', (data) => report(data[0] === 0x52
      ? { connected: true, user: 'postgres' }
      : { connected: false, code: 'REFUSED', message: 'the server answered ' + String.fromCharCode(data[0]) }));
    socket.on('error', (error) => report({ connected: false, code: String(error.code), message: error.message }));`;
  const script =
    as === 'nobody'
      ? raw
      : `
    const pg = require(${JSON.stringify(path.join(REPO, 'node_modules/pg'))});
    const client = new pg.Client({ host: process.env.PG_HOST, port: Number(process.env.PG_PORT),
      user: 'postgres', database: 'postgres', connectionTimeoutMillis: 10000 });
    client.connect()
      .then(() => client.query('SELECT current_user AS user'))
      .then(({ rows }) => { console.log(JSON.stringify({ connected: true, user: rows[0].user })); return client.end(); })
      .catch((error) => console.log(JSON.stringify({ connected: false, code: String(error.code), message: error.message })));`;
  const node = [process.execPath, '-e', script];
  const [command, ...args] =
    as === 'nobody'
      ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all', ...node]
      : node;
  const child = spawn(command as string, args, {
    cwd: '/',
    env: { PATH: process.env.PATH, PG_HOST: options.host, PG_PORT: String(options.port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as ConnectResult;
  } catch {
    throw new Error(`the connecting process exited with ${code} and said:\n${stdout}${stderr}`);
  }
}
