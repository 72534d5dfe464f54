// Webhooks, admin only: endpoints (register, list, enable or disable, delete), the delivery log
// and replay. The work is in src/core/webhooks/.
import type {
  WebhookDelivery as DeliveryShape,
  WebhookEndpoint as EndpointShape,
  WebhookDeliveryStatus,
} from '../core/webhooks/admin.js';
import { WEBHOOK_KINDS } from '../core/webhooks/queue.js';
import { builder } from './builder.js';

const WebhookKindEnum = builder.enumType('WebhookKind', {
  description:
    'What an endpoint receives. STOCK_WARNING: every stock warning (type stock.warning). SALES_ALERT: every sales alert and each later version of it (type sales.alert).',
  values: WEBHOOK_KINDS,
});

const WebhookDeliveryStatusEnum = builder.enumType('WebhookDeliveryStatus', {
  description:
    'PENDING: queued or waiting for its next attempt. DELIVERED: answered 2xx. FAILED: still failing when its retry window ended (replayable).',
  values: ['PENDING', 'DELIVERED', 'FAILED'] as const satisfies readonly WebhookDeliveryStatus[],
});

const WebhookEndpoint = builder.objectRef<EndpointShape>('WebhookEndpoint').implement({
  description: 'Where webhooks go, signed per the Standard Webhooks spec with its secret.',
  fields: (t) => ({
    id: t.exposeID('id'),
    url: t.exposeString('url'),
    kinds: t.field({ type: [WebhookKindEnum], resolve: (e) => e.kinds }),
    enabled: t.exposeBoolean('enabled'),
    disabledReason: t.exposeString('disabledReason', {
      nullable: true,
      description: 'Why it is disabled: the failures that disabled it, or the reason an admin gave.',
    }),
    disabledAt: t.field({ type: 'DateTime', nullable: true, resolve: (e) => e.disabledAt }),
    consecutiveFailures: t.exposeInt('consecutiveFailures', {
      description: 'Failed attempts in a row; at WEBHOOK_DISABLE_AFTER_FAILURES the endpoint is disabled.',
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (e) => e.createdAt }),
  }),
});

const WebhookEndpointRegistration = builder
  .objectRef<{ endpoint: EndpointShape; secret: string }>('WebhookEndpointRegistration')
  .implement({
    fields: (t) => ({
      endpoint: t.field({ type: WebhookEndpoint, resolve: (r) => r.endpoint }),
      secret: t.exposeString('secret', {
        description: 'whsec_…: verify deliveries with it. Shown only here: keep it.',
      }),
    }),
  });

const WebhookDelivery = builder.objectRef<DeliveryShape>('WebhookDelivery').implement({
  description: 'One item for one endpoint, and how its delivery went.',
  fields: (t) => ({
    id: t.exposeID('id'),
    endpointId: t.exposeID('endpointId'),
    kind: t.field({ type: WebhookKindEnum, resolve: (d) => d.kind }),
    webhookId: t.exposeString('webhookId', {
      description: 'The webhook-id header: the same on every attempt and replay, to de-duplicate on.',
    }),
    payload: t.exposeString('payload', { description: 'The JSON body sent.' }),
    status: t.field({ type: WebhookDeliveryStatusEnum, resolve: (d) => d.status }),
    attempts: t.exposeInt('attempts'),
    nextAttemptAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => d.nextAttemptAt }),
    lastStatusCode: t.exposeInt('lastStatusCode', { nullable: true, description: "The last answer's HTTP status." }),
    lastError: t.exposeString('lastError', {
      nullable: true,
      description: 'Why the last attempt failed (status and body, timeout, network error).',
    }),
    lastAttemptAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => d.lastAttemptAt }),
    deliveredAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => d.deliveredAt }),
    createdAt: t.field({ type: 'DateTime', resolve: (d) => d.createdAt }),
  }),
});

builder.queryField('webhookEndpoints', (t) =>
  t.field({
    type: [WebhookEndpoint],
    description: 'Every registered webhook endpoint, oldest first.',
    authScopes: { admin: true },
    resolve: (_root, _args, { core }) => core.webhookEndpoints(),
  }),
);

builder.queryField('webhookDeliveries', (t) =>
  t.field({
    type: [WebhookDelivery],
    description: 'The delivery log, newest first. Page with `before`: the id of the last delivery seen.',
    args: {
      endpointId: t.arg.id(),
      status: t.arg({ type: WebhookDeliveryStatusEnum }),
      first: t.arg.int({ description: '1 to 500, default 50.' }),
      before: t.arg.id(),
    },
    authScopes: { admin: true },
    resolve: (_root, args, { core }) => core.webhookDeliveries(args),
  }),
);

builder.mutationField('registerWebhookEndpoint', (t) =>
  t.field({
    type: WebhookEndpointRegistration,
    description:
      'Registers an http(s) endpoint for the given kinds. Without `secret`, one is generated (whsec_ + base64). Loopback and private addresses are refused (WEBHOOK_URL_REFUSED) unless WEBHOOKS_ALLOW_PRIVATE.',
    args: {
      url: t.arg.string({ required: true }),
      kinds: t.arg({ type: [WebhookKindEnum], required: true }),
      secret: t.arg.string({ description: 'whsec_ + base64 of 24 to 64 bytes.' }),
    },
    authScopes: { admin: true },
    resolve: (_root, args, { core }) => core.registerWebhookEndpoint(args),
  }),
);

builder.mutationField('setWebhookEndpointEnabled', (t) =>
  t.field({
    type: WebhookEndpoint,
    description:
      'Disables an endpoint (nothing is sent or queued for it; `reason` is kept) or enables it again (its failure count restarts; pending deliveries resume).',
    args: {
      id: t.arg.id({ required: true }),
      enabled: t.arg.boolean({ required: true }),
      reason: t.arg.string(),
    },
    authScopes: { admin: true },
    resolve: (_root, { id, enabled, reason }, { core }) => core.setWebhookEndpointEnabled(id, enabled, reason),
  }),
);

builder.mutationField('deleteWebhookEndpoint', (t) =>
  t.field({
    type: 'Boolean',
    description: 'Deletes an endpoint with its delivery log.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: { admin: true },
    resolve: (_root, { id }, { core }) => core.deleteWebhookEndpoint(id),
  }),
);

builder.mutationField('replayWebhookDelivery', (t) =>
  t.field({
    type: WebhookDelivery,
    description:
      'Sends a delivery again (failed or not) with the same webhook-id, now, with a fresh retry window. Its endpoint must be enabled (WEBHOOK_ENDPOINT_DISABLED).',
    args: { id: t.arg.id({ required: true }) },
    authScopes: { admin: true },
    resolve: (_root, { id }, { core }) => core.replayWebhookDelivery(id),
  }),
);
