// The HTTP routes in front of Yoga: health, readiness, metrics, the dashboard and GraphiQL's
// assets, then the guards every GraphQL request passes (shutting down, browser origin, CSRF-safe
// content type, body size) before Yoga sees it. Errors are GraphQL-shaped JSON with a code.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type pg from 'pg';
import type { Config } from '../config.js';
import type { ProcessorLag } from '../core/processing/runner.js';
import { dashboardAssets } from './dashboard/assets.js';
import { GRAPHIQL_ASSET_PREFIX, graphiqlAsset } from './graphiql.js';
import { health, type Probe, readiness } from './health.js';
import type { Metrics } from './metrics.js';
import { isOriginAllowed, ORIGIN_REFUSED } from './origin.js';
import type { GraphQLHandler } from './yoga.js';

export type RouteOptions = {
  config: Pick<Config, 'http'>;
  pool: pg.Pool;
  processorLag: () => Promise<ProcessorLag[]>;
  metrics: Metrics;
  yoga: GraphQLHandler;
  /** True once shutdown began: probes say so, GraphQL requests are refused. */
  stopping: () => boolean;
};

const JSON_TYPES = new Set(['application/json', 'application/graphql-response+json', 'application/graphql+json']);

export function createRoutes(options: RouteOptions) {
  const { config, metrics } = options;

  /** Answers a request refused by a limit, and counts it. */
  const refuse = (res: ServerResponse, limit: string, status: number, code: string, message: string) => {
    metrics.limitRefusals.inc({ limit });
    send(res, graphqlError(status, code, message));
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/health') return send(res, health(options.stopping()));
    if (path === '/ready') return send(res, await readiness(options.pool, options.stopping(), options.processorLag));
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      return void res.end(await metrics.registry.metrics());
    }
    if (req.method === 'GET' && (path === '/' || path === '/dashboard.js')) {
      // The live dashboard (GraphiQL stays at /graphql).
      const { page, script } = await dashboardAssets();
      const asset = path === '/' ? page : script;
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' });
      return void res.end(asset.body);
    }
    if (req.method === 'GET' && config.http.graphiql && path.startsWith(GRAPHIQL_ASSET_PREFIX)) {
      const asset = await graphiqlAsset(path);
      if (!asset) return send(res, graphqlError(404, 'NOT_FOUND', `no GraphiQL asset at ${path}`));
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'public, max-age=86400' });
      return void res.end(asset.body);
    }
    if (options.stopping()) {
      return send(
        res,
        graphqlError(503, 'SHUTTING_DOWN', 'the server is shutting down; retry on another instance or later'),
      );
    }
    // A browser page of another site must not use a viewer's credentials or the open mode.
    if (!isOriginAllowed(req.headers.origin, req.headers.host, config.http.allowedOrigins)) {
      return refuse(res, 'origin', 403, 'FORBIDDEN_ORIGIN', ORIGIN_REFUSED);
    }
    if (req.method === 'POST') {
      // CSRF: a browser sends a cross-site POST without a preflight only as a form or text/plain.
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (!type || !JSON_TYPES.has(type)) {
        return refuse(
          res,
          'content_type',
          415,
          'UNSUPPORTED_MEDIA_TYPE',
          'a POST must have Content-Type: application/json (or application/graphql-response+json)',
        );
      }
      const length = req.headers['content-length'];
      if (length === undefined) {
        return send(res, graphqlError(411, 'LENGTH_REQUIRED', 'a POST needs a Content-Length header'));
      }
      if (Number(length) > config.http.maxBodyBytes) {
        const message = `the request body is ${length} bytes; the limit is ${config.http.maxBodyBytes} (MAX_BODY_BYTES)`;
        return refuse(res, 'body_size', 413, 'PAYLOAD_TOO_LARGE', message);
      }
    }
    await options.yoga(req, res);
  };
}

export function send(res: ServerResponse, probe: Probe): void {
  res.writeHead(probe.status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(probe.body));
}

export function graphqlError(status: number, code: string, message: string): Probe {
  return { status, body: { errors: [{ message, extensions: { code } }] } };
}
