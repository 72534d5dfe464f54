// Shared parts of the benchmark scenarios: a scratch database, the server in a child process,
// clients (GraphQL over HTTP on node:http with keep-alive; a graphql-transport-ws client on `ws`,
// the same wire protocol the graphql-ws library speaks, light enough to run a thousand of in one
// process), and the result row. The clients share the machine with the server, so they are kept
// lean: Node's fetch costs about a millisecond of CPU per request here, which would be charged to
// the server's figures.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import WebSocket from 'ws';
import { applyMigrations } from '../src/db/migrate.js';

export const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const here = dirname(fileURLToPath(import.meta.url));

export type Result = {
  scenario: string;
  figure: string;
  value: number;
  baselineLabel: string;
  baseline: number | null;
  /** value / baseline, or for "lower is better" figures baseline / value, as the target states. */
  ratio: number | null;
  target: string;
  met: boolean | null;
  unit: string;
  notes?: string;
};

export type Scenario = { name: string; title: string; run(): Promise<Result[]> };

export type ScratchDb = { url: string; pool: pg.Pool; drop(): Promise<void> };

/** A fresh, migrated database on the local PostgreSQL; drop() removes it. */
export async function scratchDatabase(poolSize = 20): Promise<ScratchDb> {
  const name = `shopstream_bench_${randomBytes(4).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: poolSize });
  await applyMigrations(pool);
  return {
    url: url.toString(),
    pool,
    async drop() {
      await pool.end();
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export type ServerProcess = { url: string; wsUrl: string; pid: number; child: ChildProcess; stop(): Promise<void> };

/** Limits that would otherwise refuse benchmark traffic (open development mode on loopback). */
export const BENCH_ENV: Record<string, string> = {
  // As deployed: graphql-js, among others, skips its development-only checks.
  NODE_ENV: 'production',
  LOG_LEVEL: 'silent',
  PORT: '0',
  HOST: '127.0.0.1',
  INGEST_EVENTS_PER_SECOND: '10000000',
  INGEST_BURST: '10000000',
  MAX_WS_CONNECTIONS: '20000',
  MAX_WS_CONNECTIONS_PER_CREDENTIAL: '20000',
  MAX_SUBSCRIPTIONS_PER_CONNECTION: '1000',
  SUBSCRIBER_QUEUE_LIMIT: '100000',
  DB_POOL_SIZE: '20',
};

/** The real server (createServer(loadConfig(env))) in a child process. BENCH_PROFILE=1 writes a CPU profile. */
export async function startServer(databaseUrl: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const args = ['--import', 'tsx'];
  if (process.env.BENCH_PROFILE) args.push('--cpu-prof', `--cpu-prof-dir=${join(here, 'results', 'profiles')}`);
  args.push('--expose-gc', join(here, 'serve.ts'));
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...BENCH_ENV, ...env, DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const end = buffer.indexOf('\n');
      if (end >= 0) resolve(buffer.slice(0, end));
    });
    child.once('exit', (code) => reject(new Error(`the server exited with ${code} before it listened`)));
  });
  const { url, wsUrl } = JSON.parse(line) as { url: string; wsUrl: string };
  return {
    url,
    wsUrl,
    pid: child.pid as number,
    child,
    stop: () => stopChild(child),
  };
}

export type BareWs = {
  url: string;
  pid: number;
  broadcast(payload: string, count: number): Promise<void>;
  rss(): Promise<number>;
  stop(): Promise<void>;
};

export async function startBareWs(): Promise<BareWs> {
  const child = fork(join(here, 'bare-ws.ts'), [], { execArgv: ['--import', 'tsx', '--expose-gc'], stdio: 'inherit' });
  const port = await new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));
  const ask = <T>(message: object, pick: (m: Record<string, unknown>) => T | undefined) =>
    new Promise<T>((resolve) => {
      const on = (m: Record<string, unknown>) => {
        const value = pick(m);
        if (value !== undefined) {
          child.off('message', on);
          resolve(value);
        }
      };
      child.on('message', on);
      child.send(message);
    });
  return {
    url: `ws://127.0.0.1:${port}`,
    pid: child.pid as number,
    broadcast: (payload, count) =>
      ask({ broadcast: payload, count }, (m) => (m.done ? true : undefined)).then(() => undefined),
    rss: () => ask({ rss: true }, (m) => m.rss as number | undefined),
    stop: () => stopChild(child),
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Resident memory of a process, from /proc (Linux). */
export type BareHttp = { url: string; stop(): Promise<void> };

/** The bare HTTP ingest server (bare-http.ts) on `databaseUrl`, with a pool of `poolSize`. */
/** The bare HTTP server (bench/bare-http.ts), or with `yoga` the bare Yoga one (bench/bare-yoga.ts). */
export async function startBareHttp(databaseUrl: string, poolSize: number, yoga = false): Promise<BareHttp> {
  const child = fork(join(here, yoga ? 'bare-yoga.ts' : 'bare-http.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, DATABASE_URL: databaseUrl, POOL: String(poolSize) },
    stdio: 'inherit',
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`the bare HTTP server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/graphql`, stop: () => stopChild(child) };
}

export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

type Reply = { status: number; text: string };

/**
 * One HTTP request on the shared keep-alive agent: POST of JSON `payload`, or GET when null.
 * Sent once more when a kept-alive socket was closed by the server as we reused it (its
 * keepAliveTimeout): that request never reached the server, so resending is safe (Node's
 * documented pattern).
 */
function send(url: string | URL, payload: string | null): Promise<Reply> {
  const once = () =>
    new Promise<Reply>((resolve, reject) => {
      const headers =
        payload === null ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
      const req = request(url, { method: payload === null ? 'GET' : 'POST', agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      });
      req.on('error', (error: NodeJS.ErrnoException) =>
        reject(Object.assign(error, { reused: req.reusedSocket && error.code === 'ECONNRESET' })),
      );
      req.end(payload ?? undefined);
    });
  return once().catch((error) => ((error as { reused?: boolean }).reused ? once() : Promise.reject(error)));
}

/** One GraphQL request over HTTP (keep-alive); throws on transport or GraphQL errors. */
export async function gql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  const { status, text } = await send(url, JSON.stringify({ query, variables }));
  const body = JSON.parse(text) as { data?: T; errors?: unknown[] };
  if (status !== 200 || body.errors) throw new Error(`GraphQL ${status}: ${JSON.stringify(body.errors)}`);
  return body.data as T;
}

/**
 * One graphql-transport-ws connection. `subscribe` returns when the server has accepted the
 * subscribe message (it is sent after connection_ack); onNext gets each payload's data.
 */
export class GqlSocket {
  readonly ws: WebSocket;
  private handlers = new Map<string, (data: Record<string, unknown>) => void>();
  private enders = new Map<string, (error: unknown) => void>();
  private nextId = 1;
  readonly ready: Promise<void>;

  constructor(url: string) {
    this.ws = new WebSocket(url, 'graphql-transport-ws');
    this.ready = new Promise((resolve, reject) => {
      this.ws.once('open', () => this.ws.send(JSON.stringify({ type: 'connection_init', payload: {} })));
      this.ws.once('error', reject);
      this.ws.on('message', (raw) => {
        const message = JSON.parse(raw.toString()) as {
          type: string;
          id?: string;
          payload?: { data?: Record<string, unknown> | null; errors?: unknown[] };
        };
        if (message.type === 'connection_ack') resolve();
        else if (message.type === 'next') {
          const errors = message.payload?.errors;
          if (errors) this.enders.get(message.id as string)?.(errors);
          else this.handlers.get(message.id as string)?.(message.payload?.data ?? {});
        } else if (message.type === 'ping') this.ws.send(JSON.stringify({ type: 'pong' }));
        else if (message.type === 'error' || message.type === 'complete') {
          const end = this.enders.get(message.id as string);
          if (end) end(message.type === 'error' ? message.payload : null);
          else reject(new Error(JSON.stringify(message.payload)));
        }
      });
    });
  }

  subscribe(
    query: string,
    variables: Record<string, unknown>,
    onNext: (data: Record<string, unknown>) => void,
    onEnd?: (error: unknown) => void,
  ): string {
    const id = String(this.nextId++);
    this.handlers.set(id, onNext);
    if (onEnd) this.enders.set(id, onEnd);
    this.ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }));
    return id;
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

/**
 * Opens `n` plain `ws` sockets to a bare server (startBareWs), 100 at a time; each hands every
 * message to `onMessage`. The bare baselines' clients: no protocol, only the parse they measure.
 */
export async function openBareSockets(
  url: string,
  n: number,
  onMessage: (raw: WebSocket.RawData) => void,
): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  try {
    for (let i = 0; i < n; i += 100) {
      const group = Array.from({ length: Math.min(100, n - i) }, () => new WebSocket(url));
      sockets.push(...group);
      await Promise.all(group.map((s) => new Promise((resolve) => s.once('open', resolve))));
      for (const s of group) s.on('message', onMessage);
    }
    return sockets;
  } catch (error) {
    for (const s of sockets) s.terminate();
    throw error;
  }
}

/** Opens `n` sockets, `parallel` at a time. */
export async function openSockets(url: string, n: number, parallel = 100): Promise<GqlSocket[]> {
  const sockets: GqlSocket[] = [];
  for (let i = 0; i < n; i += parallel) {
    const group = Array.from({ length: Math.min(parallel, n - i) }, () => new GqlSocket(url));
    await Promise.all(group.map((s) => s.ready));
    sockets.push(...group);
  }
  return sockets;
}

export const ACTIVITY_SUBSCRIPTION = `subscription Feed($after: String, $userId: ID) {
  userActivity(after: $after, userId: $userId) { cursor eventId userId type productId quantity occurredAt }
}`;

export const RECORD_ACTIVITY = `mutation Record($events: [ActivityEventInput!]!) {
  recordActivity(events: $events) { accepted duplicates errors { index code } }
}`;

/** The same with `ack: STORED`: answered at commit of the log append; `position` is the batch's log cursor. */
export const RECORD_ACTIVITY_STORED = `mutation RecordStored($events: [ActivityEventInput!]!) {
  recordActivity(events: $events, ack: STORED) { accepted duplicates errors { index code } position }
}`;

/** recordInventory with the default ack (PROCESSED): answered once stock levels and warnings reflect it. */
export const RECORD_INVENTORY = `mutation RecordInventory($events: [InventoryEventInput!]!) {
  recordInventory(events: $events) { accepted duplicates errors { index code } position }
}`;

export const RECORD_INVENTORY_STORED = `mutation RecordInventoryStored($events: [InventoryEventInput!]!) {
  recordInventory(events: $events, ack: STORED) { accepted duplicates errors { index code } position }
}`;

export type IngestReport = {
  accepted: number;
  duplicates: number;
  errors: Array<{ index: number; code: string }>;
  position?: string | null;
};

/** Sends one batch; throws unless every event was accepted (or was a duplicate). */
export async function ingest(url: string, mutation: string, events: readonly unknown[]): Promise<IngestReport> {
  const data = await gql<Record<string, IngestReport>>(url, mutation, { events });
  const report = Object.values(data)[0] as IngestReport;
  if (report.errors.length > 0) {
    throw new Error(`${report.errors.length} of ${events.length} events rejected, e.g. ${report.errors[0]?.code}`);
  }
  return report;
}

/** GET on the server's origin (`/ready`, `/metrics`), on the same keep-alive agent. */
export function getText(graphqlUrl: string, path: string): Promise<Reply> {
  return send(new URL(path, graphqlUrl), null);
}

/** Each processor's lag behind the head of each log it follows, as GET /ready reports it. */
export type ProcessorLag = { processor: string; log: string; events: number; seconds: number };

export async function processorLag(graphqlUrl: string): Promise<ProcessorLag[]> {
  const { status, text } = await getText(graphqlUrl, '/ready');
  const body = JSON.parse(text) as { status: string; processors?: ProcessorLag[] };
  if (status !== 200 || !Array.isArray(body.processors)) throw new Error(`/ready ${status}: ${text.slice(0, 200)}`);
  return body.processors;
}

/** Resolves when no processor has an event waiting (GET /ready); rejects after `timeoutMs`. */
export async function processorsCaughtUp(graphqlUrl: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lag = await processorLag(graphqlUrl);
    if (lag.every((l) => l.events === 0)) return;
    if (Date.now() > deadline) {
      const behind = lag.filter((l) => l.events > 0).map((l) => `${l.processor}/${l.log} ${l.events}`);
      throw new Error(`the processors did not catch up within ${timeoutMs / 1000} s: ${behind.join(', ')}`);
    }
    await sleep(100);
  }
}

/** Samples of one counter of GET /metrics (Prometheus text), by the value of one label. */
export async function metricByLabel(graphqlUrl: string, name: string, label: string): Promise<Map<string, number>> {
  const { status, text } = await getText(graphqlUrl, '/metrics');
  if (status !== 200) throw new Error(`/metrics ${status}`);
  const out = new Map<string, number>();
  const pattern = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`);
  for (const line of text.split('\n')) {
    const match = pattern.exec(line);
    if (!match) continue;
    const value = new RegExp(`(?:^|,)${label}="([^"]*)"`).exec(match[1] as string)?.[1];
    if (value !== undefined) out.set(value, Number(match[2]));
  }
  return out;
}

/** Percentile of already sorted numbers (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when `check()` is true, polling; rejects after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Runs `worker(i)` in `clients` concurrent loops until `durationMs` passes; returns completed calls. */
export async function closedLoop(
  clients: number,
  durationMs: number,
  worker: (client: number, n: number) => Promise<void>,
): Promise<number> {
  const end = performance.now() + durationMs;
  let done = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      let n = 0;
      while (performance.now() < end) {
        await worker(client, n++);
        done++;
      }
    }),
  );
  return done;
}

/** A realistic stream of activity from the shop simulator (seeded), as GraphQL inputs. */
export { createShop } from '../src/cli/simulate.js';
