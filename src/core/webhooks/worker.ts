// The delivery worker: runs in every server process; several may share one database. It claims
// due deliveries with FOR UPDATE SKIP LOCKED and, in the same statement, moves their
// next_attempt_at past the attempt's timeout: that is the lease. No transaction or connection is
// held while a request is in flight. A process killed mid-delivery (kill -9) leaves the row due
// again once the lease runs out, and whichever process looks next sends it again, with the same
// webhook-id, so the receiver can tell it is the same message.
//
// Outcome of an attempt: a 2xx delivers it and clears the endpoint's run of failures; anything
// else (another status, a timeout, a refused address, a network error) schedules the next attempt
// after an exponential backoff, or keeps the delivery as FAILED once its retry window has passed,
// and counts one more failure in a row for the endpoint, which is disabled (with the reason) at
// WEBHOOK_DISABLE_AFTER_FAILURES.
//
// Retention: DELIVERED rows older than WEBHOOK_DELIVERY_RETENTION_HOURS are deleted, at most
// PRUNE_BATCH rows per statement and PRUNE_BATCHES statements per round, one round a minute at
// most (whichever process gets there; SKIP LOCKED keeps two from waiting on each other). FAILED
// and PENDING rows are never pruned.
import { AsyncResource } from 'node:async_hooks';
import type pg from 'pg';
import { Webhook } from 'standardwebhooks';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import type { Resolve } from './destination.js';
import { sendWebhook } from './send.js';

/** How an attempt ended, for metrics: delivered (2xx), retry (failed, tried again later),
 * failed (failed for good), abandoned (cut short by a graceful stop, due again at once). */
export type WebhookOutcome = 'delivered' | 'retry' | 'failed' | 'abandoned';

export type WebhookWorkerOptions = {
  pool: pg.Pool;
  settings: Config['webhooks'];
  log: Logger;
  /** Told how each attempt ended (metrics). */
  onOutcome?: (outcome: WebhookOutcome) => void;
  /** How names are resolved (tests); the system resolver by default. */
  resolve?: Resolve;
};

/** Delivered rows deleted per statement, and statements per pruning round. */
export const PRUNE_BATCH = 1000;
const PRUNE_BATCHES = 10;
const PRUNE_EVERY_MS = 60_000;

type Claimed = {
  id: string;
  webhook_id: string;
  body: string;
  attempts: number;
  endpoint_id: string;
  url: string;
  secret: string;
};

type Outcome =
  | { ok: true; status: number }
  | { ok: false; status: number | null; error: string }
  /** Cut short by stop(): not the receiver's fault, and due again at once for any process. */
  | { ok: 'abandoned' };

/** Beyond the attempt's own timeout, how long a claim stays ours (checks, the outcome's write). */
const LEASE_MARGIN_MS = 2000;
/** Kept of a receiver's answer, for the delivery log. */
const ERROR_TEXT_LIMIT = 500;

export function createWebhookWorker({ pool, settings, log, onOutcome, resolve }: WebhookWorkerOptions) {
  let claiming: Promise<void> | null = null;
  let pruning: Promise<unknown> | null = null;
  let prunedAt = 0;
  let again = false;
  let stopped = true;
  let timer: NodeJS.Timeout | null = null;
  const inFlight = new Set<AbortController>();
  /** Deliveries being sent: up to WEBHOOK_CONCURRENCY. A slot that frees is refilled at once,
   * so one slow receiver holds one slot, not a whole round. */
  const active = new Set<Promise<void>>();

  // Claims run in the context the worker was created in, not in that of whoever woke it (a
  // request's id would otherwise end up on the delivery's log lines).
  const run = AsyncResource.bind(() =>
    fill().finally(() => {
      claiming = null;
    }),
  );
  const wake = () => {
    if (stopped) return;
    if (claiming) {
      again = true;
      return;
    }
    claiming = run();
  };

  /** Claims due deliveries for the free slots and starts sending them. */
  async function fill(): Promise<void> {
    do {
      again = false;
      const free = settings.concurrency - active.size;
      if (free <= 0) return; // a delivery that ends wakes us
      let claimed: Claimed[];
      try {
        claimed = await claim(free);
      } catch (error) {
        // The database is away: the poll tries again.
        log.error({ err: error }, 'claiming webhook deliveries failed; retrying at the next poll');
        return;
      }
      for (const delivery of claimed) {
        const sending: Promise<void> = deliver(delivery)
          .catch((error: unknown) => {
            // Its outcome could not be stored: the lease runs out and it is sent again, same id.
            log.error({ err: error, delivery: delivery.id }, 'storing a webhook delivery outcome failed');
          })
          .finally(() => {
            active.delete(sending);
            wake();
          });
        active.add(sending);
      }
      // A full claim: there may be more due now.
      if (claimed.length === free) again = true;
    } while (again && !stopped);
  }

  async function claim(limit: number): Promise<Claimed[]> {
    const { rows } = await pool.query<Claimed>(
      `WITH due AS (
         SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
          WHERE d.status = 'PENDING' AND d.next_attempt_at <= now() AND e.enabled
          ORDER BY d.next_attempt_at, d.id
          LIMIT $1
          FOR UPDATE OF d SKIP LOCKED)
       UPDATE webhook_deliveries d
          SET attempts = d.attempts + 1,
              next_attempt_at = now() + $2 * interval '1 millisecond',
              last_attempt_at = now(),
              give_up_at = COALESCE(d.give_up_at, now() + $3 * interval '1 millisecond')
         FROM due, webhook_endpoints e
        WHERE d.id = due.id AND e.id = d.endpoint_id
      RETURNING d.id::text, d.webhook_id, d.payload::text AS body, d.attempts, e.id::text AS endpoint_id, e.url, e.secret`,
      [limit, settings.timeoutMs + LEASE_MARGIN_MS, settings.retryWindowMs],
    );
    return rows;
  }

  async function deliver(delivery: Claimed): Promise<void> {
    const outcome = await attempt(delivery);
    if (outcome.ok === 'abandoned') {
      onOutcome?.('abandoned');
      await pool.query(
        `UPDATE webhook_deliveries SET next_attempt_at = now(), attempts = attempts - 1
          WHERE id = $1::bigint AND attempts = $2 AND status = 'PENDING'`,
        [delivery.id, delivery.attempts],
      );
      return;
    }
    if (outcome.ok) {
      await pool.query(
        `WITH d AS (
           UPDATE webhook_deliveries
              SET status = 'DELIVERED', delivered_at = now(), next_attempt_at = NULL,
                  last_status_code = $3, last_error = NULL
            WHERE id = $1::bigint AND attempts = $2
           RETURNING endpoint_id)
         UPDATE webhook_endpoints SET consecutive_failures = 0 WHERE id IN (SELECT endpoint_id FROM d)`,
        [delivery.id, delivery.attempts, outcome.status],
      );
      onOutcome?.('delivered');
      log.debug(
        { delivery: delivery.id, webhookId: delivery.webhook_id, attempts: delivery.attempts },
        'webhook delivered',
      );
      return;
    }
    const backoffMs = Math.min(
      settings.backoffMaxMs,
      settings.backoffBaseMs * 2 ** Math.min(delivery.attempts - 1, 30),
    );
    const reason = `${settings.disableAfterFailures} delivery attempts failed in a row; the last: ${outcome.error}`;
    const { rows } = await pool.query<{ status: string; disabled: boolean }>(
      `WITH d AS (
         UPDATE webhook_deliveries
            SET status = CASE WHEN now() + $4 * interval '1 millisecond' > give_up_at THEN 'FAILED' ELSE 'PENDING' END,
                next_attempt_at = CASE WHEN now() + $4 * interval '1 millisecond' > give_up_at THEN NULL
                                       ELSE now() + $4 * interval '1 millisecond' END,
                last_status_code = $3, last_error = $5
          WHERE id = $1::bigint AND attempts = $2 AND status = 'PENDING'
         RETURNING endpoint_id, status),
       e AS (
         UPDATE webhook_endpoints
            SET consecutive_failures = consecutive_failures + 1,
                enabled = enabled AND consecutive_failures + 1 < $6,
                disabled_reason = CASE WHEN enabled AND consecutive_failures + 1 >= $6 THEN $7 ELSE disabled_reason END,
                disabled_at = CASE WHEN enabled AND consecutive_failures + 1 >= $6 THEN now() ELSE disabled_at END
          WHERE id IN (SELECT endpoint_id FROM d)
         RETURNING (consecutive_failures = $6) AS disabled)
       SELECT d.status, COALESCE((SELECT disabled FROM e), false) AS disabled FROM d`,
      [delivery.id, delivery.attempts, outcome.status, backoffMs, outcome.error, settings.disableAfterFailures, reason],
    );
    const row = rows[0];
    onOutcome?.(row?.status === 'FAILED' ? 'failed' : 'retry');
    log.warn(
      {
        delivery: delivery.id,
        webhookId: delivery.webhook_id,
        endpoint: delivery.endpoint_id,
        attempts: delivery.attempts,
        status: outcome.status,
        error: outcome.error,
        final: row?.status === 'FAILED',
      },
      row?.status === 'FAILED' ? 'webhook delivery failed for good' : 'webhook delivery failed; will retry',
    );
    if (row?.disabled) log.warn({ endpoint: delivery.endpoint_id, reason }, 'webhook endpoint disabled');
  }

  /** One signed POST to the address checked for it (send.ts); never throws. */
  async function attempt(delivery: Claimed): Promise<Outcome> {
    if (stopped) return { ok: 'abandoned' };
    const controller = new AbortController();
    inFlight.add(controller);
    const timeout = setTimeout(() => controller.abort(new Error('timeout')), settings.timeoutMs);
    try {
      // A new timestamp per attempt (the spec's replay protection); the same id on every attempt.
      const timestamp = new Date();
      const signature = new Webhook(delivery.secret).sign(delivery.webhook_id, timestamp, delivery.body);
      // Redirects are not followed: one could lead to an address the check would refuse, so a
      // 3xx counts as a failure.
      const response = await sendWebhook(delivery.url, {
        headers: {
          'content-type': 'application/json',
          'user-agent': 'shopstream-webhooks',
          'webhook-id': delivery.webhook_id,
          'webhook-timestamp': Math.floor(timestamp.getTime() / 1000).toString(),
          'webhook-signature': signature,
        },
        body: delivery.body,
        signal: controller.signal,
        allowPrivate: settings.allowPrivate,
        errorTextLimit: ERROR_TEXT_LIMIT,
        resolve,
      });
      if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
      return {
        ok: false,
        status: response.status,
        error: `HTTP ${response.status}${response.text ? `: ${response.text.slice(0, ERROR_TEXT_LIMIT)}` : ''}`,
      };
    } catch (error) {
      if (controller.signal.aborted && stopped) return { ok: 'abandoned' };
      const message = controller.signal.aborted
        ? `no answer within ${settings.timeoutMs} ms (WEBHOOK_TIMEOUT_MS)`
        : describe(error);
      return { ok: false, status: null, error: message };
    } finally {
      clearTimeout(timeout);
      inFlight.delete(controller);
    }
  }

  /** Deletes delivered rows past the retention, in bounded batches; returns how many went. */
  async function prune(): Promise<number> {
    let total = 0;
    for (let round = 0; round < PRUNE_BATCHES; round++) {
      const { rowCount } = await pool.query(
        `DELETE FROM webhook_deliveries WHERE id IN (
           SELECT id FROM webhook_deliveries
            WHERE status = 'DELIVERED' AND delivered_at < now() - $1 * interval '1 hour'
            ORDER BY delivered_at LIMIT $2
            FOR UPDATE SKIP LOCKED)`,
        [settings.retentionHours, PRUNE_BATCH],
      );
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < PRUNE_BATCH) break;
    }
    if (total > 0) log.info({ deleted: total, retentionHours: settings.retentionHours }, 'pruned delivered webhooks');
    return total;
  }

  /** From the poll: a pruning round once a minute at most, in the background. */
  function maybePrune(): void {
    if (pruning || stopped || Date.now() - prunedAt < PRUNE_EVERY_MS) return;
    prunedAt = Date.now();
    pruning = prune()
      .catch((error: unknown) => log.error({ err: error }, 'pruning delivered webhooks failed; retrying later'))
      .finally(() => {
        pruning = null;
      });
  }

  return {
    /** Wakes the worker: new deliveries were queued (or replayed). */
    wake,
    /** Deletes delivered rows older than the retention now (the poll does it once a minute). */
    prune,
    start(): void {
      stopped = false;
      timer = setInterval(() => {
        wake();
        maybePrune();
      }, settings.pollIntervalMs);
      timer.unref();
      wake();
    },
    /** Stops claiming; requests in flight are abandoned and left due at once for whoever looks next. */
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearInterval(timer);
      await claiming;
      await pruning;
      for (const controller of inFlight) controller.abort(new Error('stopping'));
      await Promise.all([...active]);
    },
  };
}

export type WebhookWorker = ReturnType<typeof createWebhookWorker>;

function describe(error: unknown): string {
  const code = (error as { code?: string }).code;
  if (code && code !== 'ABORT_ERR') return `${code}: ${(error as Error).message}`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `${cause.code}${cause.message ? `: ${cause.message}` : ''}`;
  return (error as Error).message ?? String(error);
}
