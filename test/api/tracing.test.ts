// OpenTelemetry tracing: the real server exports a mutation's spans over OTLP/HTTP (JSON) to a
// receiver started here, flushes them on shutdown, and is off without OTEL_* settings.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { closeClient, gql, subscribe, wsClient } from '../helpers/clients.js';
import { disposeAll, startTestServer } from '../helpers/server.js';

type ExportedSpan = {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Record<string, unknown>;
  links: Array<{ traceId: string; spanId: string }>;
  service: unknown;
};

/** An OTLP/HTTP receiver for JSON: POST /v1/traces; remembers every span, answers 200. */
async function startReceiver() {
  const spans: ExportedSpan[] = [];
  /** Bodies of protobuf exports, counted, not decoded. */
  const protobufBodies: number[] = [];
  const waiters: Array<() => void> = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      if (req.headers['content-type'] === 'application/x-protobuf') {
        protobufBodies.push(Buffer.concat(chunks).length);
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      } else {
        spans.push(...flatten(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      }
      for (const wake of waiters.splice(0)) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    protobufBodies,
    /** Resolves with the spans once `done(spans)` holds; fails after `timeoutMs` naming what was awaited. */
    async until(what: string, done: (spans: ExportedSpan[]) => boolean, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!done(spans)) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`the receiver never got ${what}; it got ${spans.map((s) => s.name).join(', ')}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return spans;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
const plain = (v: AnyValue) =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue));
const attributes = (list: Array<{ key: string; value: AnyValue }> = []) =>
  Object.fromEntries(list.map((a) => [a.key, plain(a.value)]));

function flatten(body: any): ExportedSpan[] {
  return (body.resourceSpans ?? []).flatMap((rs: any) =>
    (rs.scopeSpans ?? []).flatMap((ss: any) =>
      (ss.spans ?? []).map((s: any) => ({
        traceId: s.traceId,
        spanId: s.spanId,
        parentSpanId: s.parentSpanId || undefined,
        name: s.name,
        attributes: attributes(s.attributes),
        links: s.links ?? [],
        service: attributes(rs.resource?.attributes)['service.name'],
      })),
    ),
  );
}

const RECORD = `mutation RecordOne($events: [ActivityEventInput!]!) {
  recordActivity(events: $events) { accepted errors { code } }
}`;
const event = (eventId: string) => ({ eventId, userId: 'u1', type: 'BROWSE', productId: '101' });

let receiver: Awaited<ReturnType<typeof startReceiver>>;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await disposeAll();
  await receiver.close();
});

describe('tracing on (OTEL_EXPORTER_OTLP_ENDPOINT, http/json)', () => {
  it("exports one mutation as a request span with its request id, parse, validate, the operation and the ingest's commit", async () => {
    // An SDK setting read by the SDK itself, not config.ts: export batches every 50 ms.
    process.env.OTEL_BSP_SCHEDULE_DELAY = '50';
    const server = await startTestServer({
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      },
    });
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: RECORD, variables: { events: [event('t-1')] } }),
    });
    expect(await response.json()).toEqual({ data: { recordActivity: { accepted: 1, errors: [] } } });
    const requestId = response.headers.get('x-request-id');

    const spans = await receiver.until('the mutation, its request span and its commit span', (all) =>
      ['POST /graphql', 'mutation.RecordOne', 'ingest.commit activity'].every((name) =>
        all.some(
          (s) => s.name === name && (name !== 'POST /graphql' || s.attributes['shopstream.request_id'] === requestId),
        ),
      ),
    );
    const request = spans.find((s) => s.attributes['shopstream.request_id'] === requestId) as ExportedSpan;
    expect(request).toMatchObject({
      name: 'POST /graphql',
      parentSpanId: undefined,
      service: 'shopstream',
      attributes: { 'http.request.method': 'POST', 'url.path': '/graphql', 'http.response.status_code': 200 },
    });
    const inTrace = spans.filter((s) => s.traceId === request.traceId);
    const childrenOf = (span: ExportedSpan) => inTrace.filter((s) => s.parentSpanId === span.spanId);
    expect(
      childrenOf(request)
        .map((s) => s.name)
        .sort(),
    ).toEqual(['graphql.parse', 'graphql.validate', 'mutation.RecordOne']);
    const operation = inTrace.find((s) => s.name === 'mutation.RecordOne') as ExportedSpan;
    expect(operation.attributes).toMatchObject({
      'graphql.execute.operationName': 'RecordOne',
      'graphql.execute.operationType': 'mutation',
    });
    expect(childrenOf(operation)).toEqual([
      expect.objectContaining({
        name: 'ingest.commit activity',
        attributes: expect.objectContaining({ 'shopstream.stream': 'activity', 'shopstream.events': 1 }),
      }),
    ]);
    await server.stop();
  });

  it("continues the caller's trace from its traceparent header", async () => {
    const server = await startTestServer({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
    });
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const parentId = 'b7ad6b7169203331';
    const result = await gql(
      server.url,
      RECORD,
      { events: [event('t-2')] },
      { traceparent: `00-${traceId}-${parentId}-01` },
    );
    expect(result.data?.recordActivity.accepted).toBe(1);
    const spans = await receiver.until("the request span in the caller's trace", (all) =>
      all.some((s) => s.traceId === traceId && s.name === 'POST /graphql'),
    );
    expect(spans.find((s) => s.traceId === traceId && s.name === 'POST /graphql')?.parentSpanId).toBe(parentId);
    await server.stop();
  });

  it("traces an operation over WebSocket as the root of its trace, a subscription's span ending with it", async () => {
    process.env.OTEL_BSP_SCHEDULE_DELAY = '50';
    const server = await startTestServer({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
    });
    const client = wsClient(server.wsUrl);
    const sub = subscribe(client, `subscription Watch { stockWarnings(productIds: ["w-1"]) { productId kind } }`);
    const stock = `mutation Stock { recordInventory(events: [{ eventId: "w-1", productId: "w-1", quantity: 0 }]) { accepted } }`;
    for await (const result of client.iterate({ query: stock })) {
      expect(result.data).toEqual({ recordInventory: { accepted: 1 } });
      break;
    }
    // The client ends the subscription: its span ends with it.
    await sub.dispose();
    await closeClient(client);
    const spans = await receiver.until('the WebSocket mutation and the ended subscription', (all) =>
      ['mutation.Stock', 'subscription.Watch'].every((name) => all.some((s) => s.name === name)),
    );
    for (const name of ['mutation.Stock', 'subscription.Watch']) {
      expect(spans.find((s) => s.name === name)?.parentSpanId, name).toBeUndefined();
    }
    const mutation = spans.find((s) => s.name === 'mutation.Stock') as ExportedSpan;
    expect(spans.some((s) => s.name === 'ingest.commit inventory' && s.parentSpanId === mutation.spanId)).toBe(true);
    await server.stop();
  });

  it('flushes buffered spans when the server stops', async () => {
    // Nothing would be exported for a minute: only the shutdown can deliver these spans.
    process.env.OTEL_BSP_SCHEDULE_DELAY = '60000';
    const server = await startTestServer({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
    });
    const result = await gql(server.url, `mutation Flushed { recordActivity(events: []) { accepted } }`);
    expect(result.errors).toBeUndefined();
    expect(receiver.spans.some((s) => s.name === 'mutation.Flushed')).toBe(false);
    await server.stop();
    expect(receiver.spans.some((s) => s.name === 'mutation.Flushed')).toBe(true);
  });

  it('exports protobuf (http/protobuf, the default protocol) as well', async () => {
    process.env.OTEL_BSP_SCHEDULE_DELAY = '60000';
    const server = await startTestServer({
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.endpoint}/v1/traces` },
    });
    expect((await gql(server.url, RECORD, { events: [event('t-5')] })).data?.recordActivity.accepted).toBe(1);
    await server.stop();
    expect(receiver.protobufBodies).toEqual([expect.any(Number)]);
    expect(receiver.protobufBodies[0]).toBeGreaterThan(0);
  });

  it('keeps serving when the trace receiver is down, and stops cleanly', async () => {
    process.env.OTEL_BSP_SCHEDULE_DELAY = '50';
    const down = await startReceiver();
    await down.close();
    const server = await startTestServer({
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: down.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        // Shutdown waits at most this (capped at 5 s) for the exporter, which retries with backoff.
        SHUTDOWN_TIMEOUT_MS: '500',
      },
    });
    const result = await gql(server.url, RECORD, { events: [event('t-3')] });
    expect(result.data?.recordActivity.accepted).toBe(1);
    await server.stop();
  });
});

describe('tracing off', () => {
  it('is off without OTEL_* settings, and then records nothing', async () => {
    expect(loadConfig({}).tracing).toBeNull();
    const server = await startTestServer();
    const before = receiver.spans.length;
    const result = await gql(server.url, RECORD, { events: [event('t-4')] });
    expect(result.data?.recordActivity.accepted).toBe(1);
    // No tracer provider is registered: every span, the core's commit span included, is a no-op.
    expect(trace.getTracer('check').startSpan('check').isRecording()).toBe(false);
    await server.stop();
    expect(receiver.spans.length).toBe(before);
  });
});

describe('tracing settings', () => {
  it('follows the OpenTelemetry variables: an endpoint or OTEL_TRACES_EXPORTER=otlp turns it on', () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing).toEqual({
      url: 'http://collector:4318/v1/traces',
      protocol: 'http/protobuf',
    });
    expect(
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector/custom/path',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      }).tracing,
    ).toEqual({ url: 'https://collector/custom/path', protocol: 'http/json' });
    expect(loadConfig({ OTEL_TRACES_EXPORTER: 'otlp' }).tracing).toEqual({
      url: 'http://localhost:4318/v1/traces',
      protocol: 'http/protobuf',
    });
  });

  it('OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true turns it off', () => {
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }).tracing,
    ).toBeNull();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }).tracing).toBeNull();
  });

  it('refuses an exporter, a protocol or an endpoint it cannot use, naming the variable', () => {
    expect(() => loadConfig({ OTEL_TRACES_EXPORTER: 'zipkin' })).toThrow(
      /OTEL_TRACES_EXPORTER must be otlp or none.*"zipkin"/,
    );
    expect(() =>
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
    ).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL .* must be http\/protobuf or http\/json .*"grpc"/);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT must be a URL starting with http: or https:/,
    );
  });
});
