// The delivery worker: runs in every server process; several may share one database. pg-boss
// (jobs.ts) owns the scheduling: it hands out due jobs with FOR UPDATE SKIP LOCKED, retries a
// failed one after an exponential backoff, and expires the job of an attempt whose process died
// (kill -9), which makes it due again for whichever process looks next; that one sends it again
// with the same webhook-id, so the receiver can tell it is the same message. No transaction or
// connection is held while a request is in flight. This module runs the attempts and keeps the
// delivery log (webhook_deliveries): each outcome is written in one transaction with the job's
// completion or failure, so the log and the job never disagree.
//
// Outcome of an attempt: a 2xx delivers it and clears the endpoint's run of failures; anything
// else (another status, a timeout, a refused address, a network error) fails the job, which
// pg-boss schedules again after its backoff, unless that retry would come after the retry window
// (WEBHOOK_RETRY_WINDOW_MS from the first attempt): then the delivery is kept as FAILED. Every
// failure counts one more in a row for the endpoint, which is disabled (with the reason) at
// WEBHOOK_DISABLE_AFTER_FAILURES; its pending deliveries then wait, without a job, until an admin
// enables it again (admin.ts queues them anew).
//
// Retention: DELIVERED rows older than WEBHOOK_DELIVERY_RETENTION_HOURS are deleted, at most
// PRUNE_BATCH rows per statement and PRUNE_BATCHES statements per round, one round a minute at
// most (whichever process gets there; SKIP LOCKED keeps two from waiting on each other). FAILED
// and PENDING rows are never pruned. pg-boss archives its own finished jobs.
import { AsyncResource } from 'node:async_hooks';
import type pg from 'pg';
import PgBoss from 'pg-boss';
import { Webhook } from 'standardwebhooks';
import type { Config } from '../../config.js';
import { withTransaction } from '../../db/transaction.js';
import type { Logger } from '../../log.js';
import type { Resolve } from './destination.js';
import { DELIVERY_QUEUE, type DeliveryJob, JOB_SCHEMA, jobDb } from './jobs.js';
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
  jobId: string;
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

/** Beyond the attempt's own timeout, how long its job stays ours (checks, the outcome's write). */
const LEASE_MARGIN_MS = 2000;
/** Kept of a receiver's answer, for the delivery log. */
const ERROR_TEXT_LIMIT = 500;
/** A ceiling that is never reached: the retry window ends a delivery's retries. */
const RETRY_LIMIT = 1000;
/** pg-boss keeps its finished jobs this long before archiving them, and archived ones a day. */
const ARCHIVE_COMPLETED_AFTER_SECONDS = 3600;

/** The queue options the configuration gives (pg-boss counts in whole seconds). */
export function deliveryQueueOptions(settings: Config['webhooks']) {
  return {
    retryLimit: RETRY_LIMIT,
    retryDelay: settings.backoffBaseSeconds,
    retryBackoff: true,
    expireInSeconds: Math.ceil((settings.timeoutMs + LEASE_MARGIN_MS) / 1000),
    // A job not yet sent outlives the retry window (pg-boss drops older ones): a day beyond it.
    retentionMinutes: Math.ceil(settings.retryWindowMs / 60_000) + 24 * 60,
  };
}

export function createWebhookWorker({ pool, settings, log, onOutcome, resolve }: WebhookWorkerOptions) {
  const queueOptions = deliveryQueueOptions(settings);
  const boss = new PgBoss({
    db: jobDb(pool),
    schema: JOB_SCHEMA,
    // Our migrations create the schema; a newer pg-boss migrates it under its advisory lock.
    migrate: true,
    // Expiry of jobs whose process died, and archiving: one process at a time does it, this often.
    supervise: true,
    maintenanceIntervalSeconds: queueOptions.expireInSeconds,
    archiveCompletedAfterSeconds: ARCHIVE_COMPLETED_AFTER_SECONDS,
    deleteAfterDays: 1,
    schedule: false,
  });
  boss.on('error', (error: unknown) => log.error({ err: error }, 'webhook job queue (pg-boss) maintenance failed'));
  const jobs = (db: Parameters<typeof jobDb>[0]) => ({ db: jobDb(db) });

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

  // Fetches run in the context the worker was created in, not in that of whoever woke it (a
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

  /** Takes due jobs for the free slots and starts sending their deliveries. */
  async function fill(): Promise<void> {
    do {
      again = false;
      const free = settings.concurrency - active.size;
      if (free <= 0) return; // a delivery that ends wakes us
      // pg-boss's fetch answers [] when the database is away: the poll tries again.
      const due = await boss.fetch<DeliveryJob>(DELIVERY_QUEUE, { batchSize: free });
      for (const job of due) {
        const sending: Promise<void> = handle(job)
          .catch((error: unknown) => {
            // Its outcome could not be stored: the job expires and it is sent again, same id.
            log.error(
              { err: error, job: job.id, delivery: job.data.deliveryId },
              'storing a webhook delivery outcome failed',
            );
          })
          .finally(() => {
            active.delete(sending);
            wake();
          });
        active.add(sending);
      }
      // A full batch: there may be more due now.
      if (due.length === free) again = true;
    } while (again && !stopped);
  }

  /** One job: an attempt at its delivery, unless the delivery has nothing to send. */
  async function handle(job: PgBoss.Job<DeliveryJob>): Promise<void> {
    const delivery = await claim(job);
    if (!delivery) {
      // Delivered, replayed (a newer job has it), deleted, or parked for its disabled endpoint.
      await boss.complete(DELIVERY_QUEUE, job.id, {}, jobs(pool));
      return;
    }
    await deliver(delivery);
  }

  /**
   * Counts the attempt in the log, if the delivery is still pending with this job and its
   * endpoint enabled; a delivery of a disabled endpoint is parked instead (no job: enabling the
   * endpoint queues it). Locking the endpoint row orders this with an admin enabling it.
   */
  async function claim(job: PgBoss.Job<DeliveryJob>): Promise<Claimed | undefined> {
    const { rows } = await pool.query<Claimed>(
      `WITH target AS (
         SELECT d.id, e.enabled FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
          WHERE d.id = $1::bigint AND d.job_id = $2::uuid AND d.status = 'PENDING'
          FOR UPDATE OF d FOR SHARE OF e),
       parked AS (
         UPDATE webhook_deliveries d SET job_id = NULL, next_attempt_at = NULL
           FROM target t WHERE d.id = t.id AND NOT t.enabled)
       UPDATE webhook_deliveries d
          SET attempts = d.attempts + 1,
              next_attempt_at = now() + $3 * interval '1 second',
              last_attempt_at = now(),
              give_up_at = COALESCE(d.give_up_at, now() + $4 * interval '1 millisecond')
         FROM target t, webhook_endpoints e
        WHERE d.id = t.id AND t.enabled AND e.id = d.endpoint_id
      RETURNING d.id::text, d.job_id::text AS "jobId", d.webhook_id, d.payload::text AS body, d.attempts,
                e.id::text AS endpoint_id, e.url, e.secret`,
      [job.data.deliveryId, job.id, queueOptions.expireInSeconds, settings.retryWindowMs],
    );
    return rows[0];
  }

  async function deliver(delivery: Claimed): Promise<void> {
    const outcome = await attempt(delivery);
    if (outcome.ok === 'abandoned') {
      onOutcome?.('abandoned');
      // Not counted, and due at once: cancelled and resumed, the job is new again for pg-boss.
      await withTransaction(pool, async (tx) => {
        const { rowCount } = await tx.query(
          `UPDATE webhook_deliveries SET next_attempt_at = now(), attempts = attempts - 1
            WHERE id = $1::bigint AND job_id = $2::uuid AND status = 'PENDING'`,
          [delivery.id, delivery.jobId],
        );
        if (rowCount === 0) return;
        await boss.cancel(DELIVERY_QUEUE, delivery.jobId, jobs(tx));
        await boss.resume(DELIVERY_QUEUE, delivery.jobId, jobs(tx));
      });
      return;
    }
    if (outcome.ok) {
      await withTransaction(pool, async (tx) => {
        await tx.query(
          `WITH d AS (
             UPDATE webhook_deliveries
                SET status = 'DELIVERED', delivered_at = now(), next_attempt_at = NULL, job_id = NULL,
                    last_status_code = $3, last_error = NULL
              WHERE id = $1::bigint AND job_id = $2::uuid
             RETURNING endpoint_id)
           UPDATE webhook_endpoints SET consecutive_failures = 0 WHERE id IN (SELECT endpoint_id FROM d)`,
          [delivery.id, delivery.jobId, outcome.status],
        );
        await boss.complete(DELIVERY_QUEUE, delivery.jobId, {}, jobs(tx));
      });
      onOutcome?.('delivered');
      log.debug(
        { delivery: delivery.id, webhookId: delivery.webhook_id, attempts: delivery.attempts },
        'webhook delivered',
      );
      return;
    }
    const reason = `${settings.disableAfterFailures} delivery attempts failed in a row; the last: ${outcome.error}`;
    const row = await withTransaction(pool, async (tx) => {
      // pg-boss schedules the retry (its backoff); the log says when, or FAILED if that is too late.
      await boss.fail(DELIVERY_QUEUE, delivery.jobId, { error: outcome.error }, jobs(tx));
      const job = await boss.getJobById(DELIVERY_QUEUE, delivery.jobId, { ...jobs(tx), includeArchive: false });
      const retryAt = job?.state === 'retry' ? job.startAfter : null;
      // The endpoint first: its row stays locked to the end, so an admin enabling it meanwhile
      // waits, then finds the delivery parked below and queues it again.
      const { rows: endpoint } = await tx.query<{ enabled: boolean; disabled: boolean }>(
        `UPDATE webhook_endpoints
            SET consecutive_failures = consecutive_failures + 1,
                enabled = enabled AND consecutive_failures + 1 < $3,
                disabled_reason = CASE WHEN enabled AND consecutive_failures + 1 >= $3 THEN $4 ELSE disabled_reason END,
                disabled_at = CASE WHEN enabled AND consecutive_failures + 1 >= $3 THEN now() ELSE disabled_at END
          WHERE id = $5::uuid
            AND EXISTS (SELECT FROM webhook_deliveries WHERE id = $1::bigint AND job_id = $2::uuid AND status = 'PENDING')
        RETURNING enabled, (consecutive_failures = $3) AS disabled`,
        [delivery.id, delivery.jobId, settings.disableAfterFailures, reason, delivery.endpoint_id],
      );
      if (!endpoint[0]) return undefined; // replayed or deleted meanwhile: not ours to write
      const { rows } = await tx.query<{ status: string; released: boolean }>(
        `UPDATE webhook_deliveries
            SET status = CASE WHEN $3::timestamptz IS NULL OR $3::timestamptz > give_up_at THEN 'FAILED' ELSE 'PENDING' END,
                -- Retried when pg-boss said; without a job when given up, or while the endpoint is disabled.
                next_attempt_at = CASE WHEN $3::timestamptz > give_up_at OR NOT $4 THEN NULL ELSE $3::timestamptz END,
                job_id = CASE WHEN $3::timestamptz IS NULL OR $3::timestamptz > give_up_at OR NOT $4 THEN NULL ELSE job_id END,
                last_status_code = $5, last_error = $6
          WHERE id = $1::bigint AND job_id = $2::uuid
        RETURNING status, job_id IS NULL AS released`,
        [delivery.id, delivery.jobId, retryAt, endpoint[0].enabled, outcome.status, outcome.error],
      );
      // Given up, or parked: pg-boss must not send it again.
      if (retryAt && rows[0]?.released) await boss.cancel(DELIVERY_QUEUE, delivery.jobId, jobs(tx));
      return { status: rows[0]?.status, disabled: endpoint[0].disabled };
    });
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
    /** Starts pg-boss's maintenance, applies the configured queue options, and starts polling. */
    async start(): Promise<void> {
      await boss.start();
      await boss.updateQueue(DELIVERY_QUEUE, { name: DELIVERY_QUEUE, policy: 'standard', ...queueOptions });
      stopped = false;
      timer = setInterval(() => {
        wake();
        maybePrune();
      }, settings.pollIntervalMs);
      timer.unref();
      wake();
    },
    /** Stops fetching; requests in flight are abandoned and left due at once for whoever looks next. */
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearInterval(timer);
      await claiming;
      await pruning;
      for (const controller of inFlight) controller.abort(new Error('stopping'));
      await Promise.all([...active]);
      // Its maintenance timer only: nothing of ours is in its hands any more, and the pool is ours.
      await boss.stop({ graceful: false, close: false });
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
