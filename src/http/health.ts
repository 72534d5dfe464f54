// /health: the process is up. /ready: the database answers and is fully migrated, so a load
// balancer sends traffic only where it can be served; its body shows each processor's lag.
import type pg from 'pg';
import type { ProcessorLag } from '../core/processing/runner.js';
import { migrationStatus } from '../db/migrate.js';

export type Probe = { status: number; body: Record<string, unknown> };

export function health(stopping: boolean): Probe {
  return stopping ? { status: 503, body: { status: 'stopping' } } : { status: 200, body: { status: 'ok' } };
}

export async function readiness(pool: pg.Pool, stopping: boolean, lag: () => Promise<ProcessorLag[]>): Promise<Probe> {
  if (stopping) return { status: 503, body: { status: 'stopping' } };
  try {
    const { pending } = await migrationStatus(pool);
    if (pending.length > 0) return { status: 503, body: { status: 'migrations pending', pending } };
    // Lag is reported, not judged: a backlog is served (it shrinks), and the operator sees it.
    return { status: 200, body: { status: 'ready', processors: await lag() } };
  } catch (error) {
    return { status: 503, body: { status: 'database unreachable', error: (error as Error).message } };
  }
}
