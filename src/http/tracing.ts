// OpenTelemetry tracing, on only when config.tracing is set (the standard OTEL_* variables). Off,
// this module's SDK imports are never loaded and Yoga gets no plugin. On, each HTTP request is a
// span with its request id, parse and validate are its children, and @envelop/opentelemetry adds
// the operation (execute/subscribe) span, under which the core's ingest commit span sits.
import {
  type Context,
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.js';
import { currentRequestId, type Logger } from '../log.js';

export type Tracing = {
  /** Yoga plugins: the request, parse and validate spans, and the operation span. */
  plugins: Plugin[];
  /** Exports the spans still buffered, then unregisters the global tracer provider. */
  shutdown(): Promise<void>;
};

const SERVICE = 'shopstream';

export async function startTracing(
  config: NonNullable<Config['tracing']>,
  /** flushTimeoutMs: how long shutdown waits for the last export. */
  options: { log: Logger; flushTimeoutMs: number },
): Promise<Tracing> {
  const [{ NodeTracerProvider, BatchSpanProcessor }, resources, { useOpenTelemetry }, exporters] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/resources'),
    import('@envelop/opentelemetry'),
    config.protocol === 'http/json'
      ? import('@opentelemetry/exporter-trace-otlp-http')
      : import('@opentelemetry/exporter-trace-otlp-proto'),
  ]);
  // The exporter still reads OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT and _COMPRESSION itself.
  const exporter = new exporters.OTLPTraceExporter({ url: config.url });
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over our defaults.
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ 'service.name': SERVICE }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  // Sampling (OTEL_TRACES_SAMPLER) and batching (OTEL_BSP_*) come from the SDK's own variables.
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  // Global: the AsyncLocalStorage context manager (a span's children find it across awaits), the
  // W3C trace-context propagator, and the provider the core's spans use (src/core/ingest/ingest.ts).
  provider.register();
  options.log.info({ url: config.url, protocol: config.protocol }, 'OpenTelemetry tracing on');
  const tracer = provider.getTracer(SERVICE);
  return {
    plugins: [
      useRequestSpans(tracer),
      // Variables and results stay out of spans: they carry shoppers' ids and orders.
      // Its context type adds a private symbol Yoga's Plugin type does not know; the hooks are the same.
      useOpenTelemetry(
        { resolvers: false, variables: false, result: false },
        provider,
        SpanKind.INTERNAL,
        {},
        SERVICE,
      ) as Plugin,
    ],
    async shutdown() {
      // A receiver that is down (the exporter retries with backoff) must not hold the shutdown up:
      // its spans are lost, and the log says so.
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<Error>((resolve) => {
        timer = setTimeout(
          () => resolve(new Error(`no answer within ${options.flushTimeoutMs} ms`)),
          options.flushTimeoutMs,
        );
      });
      const failure = await Promise.race([
        provider.shutdown().then(
          () => null,
          (error: unknown) => error,
        ),
        gaveUp,
      ]);
      clearTimeout(timer);
      if (failure) options.log.warn({ err: failure, url: config.url }, 'could not export the last spans');
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

const headerGetter: TextMapGetter<Headers> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key) ?? undefined,
};

/**
 * The request span (continuing a caller's `traceparent`), and parse and validate spans under it.
 * Over WebSocket there is no request: the operation span is the root of its trace.
 */
function useRequestSpans(tracer: Tracer): Plugin {
  const spans = new WeakMap<Request, Span>();
  return {
    instrumentation: {
      request({ request }, wrapped) {
        const url = new URL(request.url);
        const parent = propagation.extract(context.active(), request.headers, headerGetter);
        const span = tracer.startSpan(
          `${request.method} ${url.pathname}`,
          {
            kind: SpanKind.SERVER,
            attributes: {
              'http.request.method': request.method,
              'url.path': url.pathname,
              'shopstream.request_id': currentRequestId(),
            },
          },
          parent,
        );
        spans.set(request, span);
        return context.with(trace.setSpan(parent, span), async () => {
          try {
            await wrapped();
          } catch (error) {
            fail(span, error);
            throw error;
          } finally {
            span.end();
          }
        });
      },
      parse: (_payload, wrapped) => inChildSpan(tracer, 'graphql.parse', wrapped),
      validate: (_payload, wrapped) => inChildSpan(tracer, 'graphql.validate', wrapped),
    },
    onResponse({ request, response }) {
      const span = spans.get(request);
      if (!span) return;
      span.setAttribute('http.response.status_code', response.status);
      if (response.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    },
  };
}

function inChildSpan(tracer: Tracer, name: string, wrapped: () => void): void {
  const active: Context = context.active();
  if (!trace.getSpan(active)) {
    wrapped();
    return;
  }
  const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL }, active);
  try {
    context.with(trace.setSpan(active, span), wrapped);
  } catch (error) {
    fail(span, error);
    throw error;
  } finally {
    span.end();
  }
}

function fail(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}
