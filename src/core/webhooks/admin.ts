// What admins do with webhooks: register, list, enable or disable, delete endpoints; read the
// delivery log; replay a delivery. Plain SQL over the pool; the GraphQL layer is src/schema/webhooks.ts.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { withTransaction } from '../../db/transaction.js';
import { CoreError, InvalidInput } from '../errors.js';
import { checkDestination } from './destination.js';
import { addDeliveryJobs } from './jobs.js';
import { WEBHOOK_KINDS, type WebhookKind } from './queue.js';

export type WebhookEndpoint = {
  id: string;
  url: string;
  kinds: WebhookKind[];
  enabled: boolean;
  disabledReason: string | null;
  disabledAt: Date | null;
  consecutiveFailures: number;
  createdAt: Date;
};

export type WebhookDeliveryStatus = 'PENDING' | 'DELIVERED' | 'FAILED';

export type WebhookDelivery = {
  id: string;
  endpointId: string;
  kind: WebhookKind;
  webhookId: string;
  payload: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  lastAttemptAt: Date | null;
  deliveredAt: Date | null;
  createdAt: Date;
};

export class WebhookNotFound extends CoreError {
  constructor(what: string, id: string) {
    super('NOT_FOUND', `no ${what} with id ${id}`);
  }
}

const ENDPOINT_COLUMNS = `id::text, url, kinds, enabled, disabled_reason, disabled_at, consecutive_failures, created_at`;
const DELIVERY_COLUMNS = `id::text, endpoint_id::text, kind, webhook_id, payload::text AS payload, status, attempts,
  next_attempt_at, last_status_code, last_error, last_attempt_at, delivered_at, created_at`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Standard Webhooks: whsec_ and the base64 of 24 to 64 random bytes. */
const SECRET = /^whsec_([A-Za-z0-9+/]+={0,2})$/;

export type WebhookAdminOptions = { pool: pg.Pool; allowPrivate: boolean; onQueued?: () => void };

export function createWebhookAdmin({ pool, allowPrivate, onQueued }: WebhookAdminOptions) {
  return {
    /** Registers an endpoint; returns it with its secret (the only time the secret is shown). */
    async register(input: { url: string; kinds: readonly string[]; secret?: string | null }) {
      const url = await checkDestination(input.url, { allowPrivate });
      const kinds = checkKinds(input.kinds);
      const secret = input.secret == null ? generateSecret() : checkSecret(input.secret);
      const { rows } = await pool.query(
        `INSERT INTO webhook_endpoints (url, kinds, secret) VALUES ($1, $2, $3) RETURNING ${ENDPOINT_COLUMNS}`,
        [url.href, kinds, secret],
      );
      return { endpoint: toEndpoint(rows[0]), secret };
    },

    async list(): Promise<WebhookEndpoint[]> {
      const { rows } = await pool.query(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id`);
      return rows.map(toEndpoint);
    },

    /**
     * Disables (with the admin's reason) or enables an endpoint; enabling forgets past failures and
     * queues a job for each of its pending deliveries that waited without one.
     */
    async setEnabled(id: string, enabled: boolean, reason?: string | null): Promise<WebhookEndpoint> {
      checkUuid(id, 'webhook endpoint');
      const endpoint = await withTransaction(pool, async (tx) => {
        const { rows } = await tx.query(
          `UPDATE webhook_endpoints
              SET enabled = $2,
                  disabled_reason = CASE WHEN $2 THEN NULL ELSE $3 END,
                  disabled_at = CASE WHEN $2 THEN NULL ELSE now() END,
                  consecutive_failures = CASE WHEN $2 THEN 0 ELSE consecutive_failures END
            WHERE id = $1::uuid
          RETURNING ${ENDPOINT_COLUMNS}`,
          [id, enabled, reason ?? 'disabled by an admin'],
        );
        if (rows.length === 0) throw new WebhookNotFound('webhook endpoint', id);
        if (enabled) {
          const { rows: waiting } = await tx.query<{ id: string; jobId: string }>(
            `UPDATE webhook_deliveries SET job_id = gen_random_uuid(), next_attempt_at = now()
              WHERE endpoint_id = $1::uuid AND status = 'PENDING' AND job_id IS NULL
            RETURNING id::text, job_id::text AS "jobId"`,
            [id],
          );
          await addDeliveryJobs(tx, waiting);
        }
        return toEndpoint(rows[0]);
      });
      if (enabled) onQueued?.();
      return endpoint;
    },

    /** Deletes an endpoint and its delivery log; pending deliveries are dropped. */
    async remove(id: string): Promise<boolean> {
      checkUuid(id, 'webhook endpoint');
      const { rowCount } = await pool.query('DELETE FROM webhook_endpoints WHERE id = $1::uuid', [id]);
      if (rowCount === 0) throw new WebhookNotFound('webhook endpoint', id);
      return true;
    },

    /** The delivery log, newest first; `before` is the id of the last delivery of the previous page. */
    async deliveries(options: {
      endpointId?: string | null;
      status?: WebhookDeliveryStatus | null;
      first?: number | null;
      before?: string | null;
    }): Promise<WebhookDelivery[]> {
      if (options.endpointId != null) checkUuid(options.endpointId, 'webhook endpoint');
      if (options.before != null && !/^\d{1,19}$/.test(options.before)) {
        throw new InvalidInput(`before must be the id of a webhook delivery, got "${options.before.slice(0, 40)}"`);
      }
      const first = options.first ?? 50;
      if (!Number.isInteger(first) || first < 1 || first > 500) {
        throw new InvalidInput(`first must be from 1 to 500, got ${first}`);
      }
      const { rows } = await pool.query(
        `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries
          WHERE ($1::uuid IS NULL OR endpoint_id = $1::uuid)
            AND ($2::text IS NULL OR status = $2)
            AND ($3::bigint IS NULL OR id < $3::bigint)
          ORDER BY id DESC LIMIT $4`,
        [options.endpointId ?? null, options.status ?? null, options.before ?? null, first],
      );
      return rows.map(toDelivery);
    },

    /**
     * Sends a delivery again, whatever its state, with the same webhook-id (receivers de-duplicate
     * on it): due now, with a fresh retry window. Its endpoint must be enabled.
     */
    async replay(id: string): Promise<WebhookDelivery> {
      if (!/^\d{1,19}$/.test(id))
        throw new InvalidInput(`id must be the id of a webhook delivery, got "${id.slice(0, 40)}"`);
      // A new job: one still queued for it (a pending delivery) finds the delivery no longer its own.
      const rows = await withTransaction(pool, async (tx) => {
        const { rows } = await tx.query(
          `UPDATE webhook_deliveries
              SET status = 'PENDING', next_attempt_at = now(), give_up_at = NULL, delivered_at = NULL,
                  job_id = gen_random_uuid()
            WHERE id = $1::bigint AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE enabled)
          RETURNING ${DELIVERY_COLUMNS}, job_id::text AS "jobId"`,
          [id],
        );
        await addDeliveryJobs(tx, rows);
        return rows;
      });
      if (rows.length === 0) {
        const { rows: found } = await pool.query(
          'SELECT e.id::text AS endpoint_id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1::bigint',
          [id],
        );
        if (found.length === 0) throw new WebhookNotFound('webhook delivery', id);
        throw new CoreError(
          'WEBHOOK_ENDPOINT_DISABLED',
          `the endpoint of delivery ${id} is disabled: enable it first (setWebhookEndpointEnabled), then replay`,
          { endpointId: found[0].endpoint_id },
        );
      }
      onQueued?.();
      return toDelivery(rows[0]);
    },
  };
}

export type WebhookAdmin = ReturnType<typeof createWebhookAdmin>;

/** A new Standard Webhooks secret: whsec_ and 32 random bytes in base64. */
export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

function checkSecret(secret: string): string {
  const match = SECRET.exec(secret);
  const bytes = match ? Buffer.from(match[1] as string, 'base64').length : 0;
  if (!match || bytes < 24 || bytes > 64) {
    throw new InvalidInput(
      'secret must be whsec_ followed by the base64 of 24 to 64 random bytes (Standard Webhooks); leave it out to have one generated',
    );
  }
  return secret;
}

function checkKinds(kinds: readonly string[]): WebhookKind[] {
  const unique = [...new Set(kinds)];
  if (unique.length === 0) throw new InvalidInput(`kinds must name at least one of ${WEBHOOK_KINDS.join(', ')}`);
  const unknown = unique.filter((k) => !(WEBHOOK_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new InvalidInput(`kinds must be among ${WEBHOOK_KINDS.join(', ')}, got ${unknown.join(', ')}`);
  }
  return unique as WebhookKind[];
}

function checkUuid(id: string, what: string): void {
  if (!UUID.test(id)) throw new InvalidInput(`id must be the id of a ${what}, got "${id.slice(0, 40)}"`);
}

function toEndpoint(row: Record<string, any>): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    kinds: row.kinds,
    enabled: row.enabled,
    disabledReason: row.disabled_reason,
    disabledAt: row.disabled_at,
    consecutiveFailures: row.consecutive_failures,
    createdAt: row.created_at,
  };
}

function toDelivery(row: Record<string, any>): WebhookDelivery {
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    kind: row.kind,
    webhookId: row.webhook_id,
    payload: row.payload,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    lastAttemptAt: row.last_attempt_at,
    deliveredAt: row.delivered_at,
    createdAt: row.created_at,
  };
}

/** The delivery queue as /metrics shows it. */
export type WebhookQueueStats = {
  /** PENDING deliveries (queued, waiting for a retry, or being sent). */
  pending: number;
  /** Of those, due now (next_attempt_at passed): a backlog when it stays above 0. */
  due: number;
  failed: number;
  /** Age of the oldest PENDING delivery (since it was queued or replayed), 0 when none. */
  oldestPendingSeconds: number;
};

export async function readWebhookQueue(pool: Pick<pg.Pool, 'query'>): Promise<WebhookQueueStats> {
  const { rows } = await pool.query<{ pending: number; due: number; failed: number; oldest: number | null }>(
    `SELECT count(*) FILTER (WHERE status = 'PENDING')::int AS pending,
            count(*) FILTER (WHERE status = 'PENDING' AND next_attempt_at <= now())::int AS due,
            count(*) FILTER (WHERE status = 'FAILED')::int AS failed,
            extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'PENDING'))::float8 AS oldest
       FROM webhook_deliveries WHERE status <> 'DELIVERED'`,
  );
  const row = rows[0];
  return {
    pending: row?.pending ?? 0,
    due: row?.due ?? 0,
    failed: row?.failed ?? 0,
    oldestPendingSeconds: Math.max(0, row?.oldest ?? 0),
  };
}
