// /metrics in Prometheus text format: one registry per server, so tests can run several.
import {
  createCounter,
  createHistogram,
  type FillLabelsFnParams,
  usePrometheus,
} from '@graphql-yoga/plugin-prometheus';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ProcessorLag } from '../core/processing/runner.js';
import type { WebhookQueueStats } from '../core/webhooks/admin.js';
import { FEED_TOPICS, type FeedTopic } from '../feed/topics.js';

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const registry = new Registry();
  // prom-client's default names already start with process_ or nodejs_: shopstream_process_cpu_…
  collectDefaultMetrics({ register: registry, prefix: 'shopstream_' });
  // What the scrape-time gauges read; set by watch() once the pool and the feed exist.
  const watched: {
    pool?: PoolStats;
    subscribers?: () => ReadonlyMap<FeedTopic, number>;
    lag?: () => Promise<ProcessorLag[]>;
    webhooks?: () => Promise<WebhookQueueStats>;
  } = {};
  // The webhook gauges are collected in one scrape; the queue is read once for them.
  let webhookRead: { at: number; stats: Promise<WebhookQueueStats | null> } | null = null;
  const webhookQueue = (): Promise<WebhookQueueStats | null> => {
    if (!watched.webhooks) return Promise.resolve(null);
    if (!webhookRead || performance.now() - webhookRead.at > 1000) {
      webhookRead = { at: performance.now(), stats: watched.webhooks().catch(() => null) };
    }
    return webhookRead.stats;
  };
  // The operation name and an error's path are chosen by clients: capped, so that no client can
  // grow the series (and the scrape) without bound.
  const operationName = capLabel(MAX_OPERATION_NAMES);
  /** Items delivered since the last scrape, by stream (see countDelivered). */
  const delivered = new Map<string, number>();
  const errorPath = capLabel(MAX_ERROR_PATHS);
  // As the plugin's own: a label it has no value for is left out, not sent empty.
  const operationLabels = (params: FillLabelsFnParams) =>
    definedOnly({ operationType: params.operationType, operationName: operationName(params.operationName) });
  // Both lag gauges are collected in one scrape; the core reads the lag once for both.
  const currentLag = async (): Promise<ProcessorLag[]> => (watched.lag ? watched.lag().catch(() => []) : []);
  return {
    registry,
    /** Wires the gauges that are read on scrape (pool use, open subscriptions). */
    watch(sources: {
      pool: PoolStats;
      subscribers: () => ReadonlyMap<FeedTopic, number>;
      lag?: () => Promise<ProcessorLag[]>;
      webhooks?: () => Promise<WebhookQueueStats>;
    }) {
      Object.assign(watched, sources);
    },
    /** GraphQL operations over HTTP, SSE and WebSocket (Yoga's Prometheus plugin, on this registry). */
    graphqlPlugin: usePrometheus({
      registry,
      endpoint: false, // /metrics is served by server.ts, with every metric of this registry
      metrics: {
        ...Object.fromEntries(YOGA_DEFAULT_METRICS.map((name) => [name, false])),
        // The plugin's own three, with the same names, help and labels, but capped label values.
        graphql_envelop_request: createCounter({
          registry,
          counter: {
            name: 'shopstream_graphql_operations_total',
            help: 'Counts the amount of GraphQL requests executed through Envelop',
            labelNames: ['operationType', 'operationName'],
          },
          fillLabelsFn: operationLabels,
        }),
        graphql_envelop_request_duration: createHistogram({
          registry,
          histogram: {
            name: 'shopstream_graphql_operation_duration_seconds',
            help: 'Time spent on running the GraphQL operation from parse to execute',
            labelNames: ['operationType', 'operationName'],
          },
          fillLabelsFn: operationLabels,
        }),
        graphql_envelop_error_result: createCounter({
          registry,
          counter: {
            name: 'shopstream_graphql_operation_errors_total',
            help: 'Counts the amount of errors reported from all phases',
            labelNames: ['operationType', 'operationName', 'path', 'phase'],
          },
          fillLabelsFn: (params) =>
            definedOnly({
              ...operationLabels(params),
              phase: params.errorPhase,
              path: params.error?.path ? errorPath(params.error.path.join('.')) : undefined,
            }),
        }),
      },
    }),
    /** Events of ingest batches by stream (activity, inventory) and outcome (accepted, duplicate, rejected). */
    ingestedEvents: new Counter({
      name: 'shopstream_ingested_events_total',
      help: 'Events received through recordActivity / recordInventory, by stream and outcome.',
      labelNames: ['stream', 'outcome'] as const,
      registers: [registry],
    }),
    /** Feed items handed to subscribers, by stream. */
    /** Counts one delivered item: added up here and handed to the counter on scrape, since a
     * counter's inc (label hashing) per item was a visible share of a fan-out's CPU. */
    countDelivered(stream: string) {
      delivered.set(stream, (delivered.get(stream) ?? 0) + 1);
    },
    itemsDelivered: new Counter({
      name: 'shopstream_feed_items_delivered_total',
      help: 'Feed items delivered to subscribers, by stream.',
      labelNames: ['stream'] as const,
      registers: [registry],
      collect() {
        for (const [stream, count] of delivered) this.inc({ stream }, count);
        delivered.clear();
      },
    }),
    /** From a batch's COMMIT to its rows being offered to this process's subscribers. */
    commitToPublish: new Histogram({
      name: 'shopstream_commit_to_publish_seconds',
      help: "Time from a batch's COMMIT until the feed reader of this process has offered its rows to subscribers, by stream (followed streams only).",
      labelNames: ['stream'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    activeSubscriptions: new Gauge({
      name: 'shopstream_active_subscriptions',
      help: 'Open feed subscriptions in this process, by stream.',
      labelNames: ['stream'] as const,
      registers: [registry],
      collect() {
        const counts = watched.subscribers?.();
        for (const topic of FEED_TOPICS) this.set({ stream: streamOf(topic) }, counts?.get(topic) ?? 0);
      },
    }),
    dbPoolConnections: new Gauge({
      name: 'shopstream_db_pool_connections',
      help: 'Database pool connections: total open, and idle among them.',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        if (!watched.pool) return;
        this.set({ state: 'total' }, watched.pool.totalCount);
        this.set({ state: 'idle' }, watched.pool.idleCount);
      },
    }),
    dbPoolWaiting: new Gauge({
      name: 'shopstream_db_pool_waiting',
      help: 'Queries waiting for a free database pool connection.',
      registers: [registry],
      collect() {
        if (watched.pool) this.set(watched.pool.waitingCount);
      },
    }),
    processorLagEvents: new Gauge({
      name: 'shopstream_processor_lag_events',
      help: 'Events of a log that a processor has not applied yet, by processor and log.',
      labelNames: ['processor', 'log'] as const,
      registers: [registry],
      async collect() {
        for (const lag of await currentLag()) this.set({ processor: lag.processor, log: lag.log }, lag.events);
      },
    }),
    processorLagSeconds: new Gauge({
      name: 'shopstream_processor_lag_seconds',
      help: 'Age of the oldest event a processor has not applied yet (0 when caught up), by processor and log.',
      labelNames: ['processor', 'log'] as const,
      registers: [registry],
      async collect() {
        for (const lag of await currentLag()) this.set({ processor: lag.processor, log: lag.log }, lag.seconds);
      },
    }),
    processedEvents: new Counter({
      name: 'shopstream_processed_events_total',
      help: 'Events applied by a processor in this process, by processor.',
      labelNames: ['processor'] as const,
      registers: [registry],
    }),
    processorBatchSeconds: new Histogram({
      name: 'shopstream_processor_batch_seconds',
      help: 'Time a processor batch took in this process (read, apply, commit), by processor.',
      labelNames: ['processor'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    /** A request or socket refused by a configured limit, by limit name. */
    limitRefusals: new Counter({
      name: 'shopstream_limit_refusals_total',
      help: 'Requests, operations or sockets refused by a configured limit.',
      labelNames: ['limit'] as const,
      registers: [registry],
    }),
    authRefusals: new Counter({
      name: 'shopstream_auth_refusals_total',
      help: 'Requests or sockets refused for a missing, invalid or insufficient credential.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    /** Event-stream subscribers ended with RESYNC_REQUIRED because they fell too far behind. */
    subscriberResyncs: new Counter({
      name: 'shopstream_subscriber_resyncs_total',
      help: 'Subscriptions ended with RESYNC_REQUIRED because the subscriber fell behind its queue limit.',
      labelNames: ['feed'] as const,
      registers: [registry],
    }),
    /** 1 while the Redis fan-out is subscribed; without REDIS_URL it stays 0. */
    redisConnected: new Gauge({
      name: 'shopstream_redis_connected',
      help: 'Whether the Redis fan-out subscriber is connected (1) or not (0); wake-ups fall back to polling meanwhile.',
      registers: [registry],
    }),
    /** Webhook delivery attempts of this process, by outcome (delivered, retry, failed, abandoned). */
    webhookAttempts: new Counter({
      name: 'shopstream_webhook_attempts_total',
      help: 'Webhook delivery attempts made by this process, by outcome: delivered (2xx), retry (failed, retried later), failed (failed for good, kept as FAILED), abandoned (cut short by a graceful stop).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    webhookDeliveries: new Gauge({
      name: 'shopstream_webhook_deliveries',
      help: 'Webhook deliveries in the queue (shared by every process): pending (queued or awaiting a retry), due (pending and due now), failed (kept for replay).',
      labelNames: ['status'] as const,
      registers: [registry],
      async collect() {
        const stats = await webhookQueue();
        if (!stats) return;
        this.set({ status: 'pending' }, stats.pending);
        this.set({ status: 'due' }, stats.due);
        this.set({ status: 'failed' }, stats.failed);
      },
    }),
    webhookOldestPending: new Gauge({
      name: 'shopstream_webhook_oldest_pending_seconds',
      help: 'Age of the oldest pending webhook delivery since it was queued or replayed (0 when none).',
      registers: [registry],
      async collect() {
        const stats = await webhookQueue();
        if (stats) this.set(stats.oldestPendingSeconds);
      },
    }),
    websocketConnections: new Gauge({
      name: 'shopstream_websocket_connections',
      help: 'Open GraphQL WebSocket connections.',
      registers: [registry],
    }),
  };
}

/** Distinct operationName label values kept; later names are counted as OTHER_LABEL. */
export const MAX_OPERATION_NAMES = 200;
/** Distinct error path label values kept (aliases make paths the client's choice too). */
export const MAX_ERROR_PATHS = 200;
export const OTHER_LABEL = 'other';
const MAX_LABEL_LENGTH = 100;

/** The first `max` distinct values (of at most MAX_LABEL_LENGTH characters) pass; the rest become OTHER_LABEL. */
export function capLabel(max: number): <V extends string | undefined>(value: V) => V | typeof OTHER_LABEL {
  const seen = new Set<string>();
  return (value) => {
    if (value === undefined || seen.has(value)) return value;
    if (seen.size >= max || value.length > MAX_LABEL_LENGTH) return OTHER_LABEL;
    seen.add(value);
    return value;
  };
}

function definedOnly<K extends string>(labels: Record<K, string | undefined>): Record<K, string> {
  return Object.fromEntries(Object.entries(labels).filter(([, value]) => value !== undefined)) as Record<K, string>;
}

/** What pg.Pool tells about its use. */
export type PoolStats = { readonly totalCount: number; readonly idleCount: number; readonly waitingCount: number };

/** The stream label of a feed topic: 'inventory:warning' → 'inventory'. */
export function streamOf(topic: FeedTopic): string {
  return topic.slice(0, topic.indexOf(':'));
}

// The plugin enables these unless told otherwise; only operations, their duration and errors are
// kept (per-phase histograms and the HTTP histogram, labelled by URL, would multiply series).
const YOGA_DEFAULT_METRICS = [
  'graphql_envelop_deprecated_field',
  'graphql_envelop_request',
  'graphql_envelop_request_duration',
  'graphql_envelop_request_time_summary',
  'graphql_envelop_phase_parse',
  'graphql_envelop_phase_validate',
  'graphql_envelop_phase_context',
  'graphql_envelop_error_result',
  'graphql_envelop_execute_resolver',
  'graphql_envelop_phase_execute',
  'graphql_envelop_phase_subscribe',
  'graphql_envelop_schema_change',
  'graphql_yoga_http_duration',
] as const;
