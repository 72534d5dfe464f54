/// <reference lib="dom" />
// The live dashboard served at `/`, bundled for the browser by esbuild (see assets.ts). It reads
// with queries over fetch and follows the streams over graphql-ws; after a dropped connection
// every stream resumes from the last cursor it showed, so nothing is missed or shown twice. When
// the server refuses the credential (UNAUTHENTICATED, or close 4403), it asks for one and keeps
// it in localStorage.
import { type Client, createClient } from 'graphql-ws/client';
import uPlot from 'uplot';
// @ts-expect-error esbuild loads CSS as text (loader '.css': 'text'); tsc has no type for it.
import chartCss from 'uplot/dist/uPlot.min.css';

const CREDENTIAL_KEY = 'shopstream.credential';
const CHART_MINUTES = 30;
const LIST_LENGTH = 30;

type GraphQLError = { message: string; extensions?: { code?: string; cursor?: string } };
type SalesWindow = {
  cursor: string;
  start: string;
  currency: string;
  revenue: string;
  /** revenue less the refunds of the window (issue 16). */
  netRevenue: string;
  orders: number;
  units: number;
  revision: number;
};
/** A product's catalogue entry; null when the catalogue does not know it. */
type CatalogueName = { name: string } | null;
type StockWarning = {
  cursor: string;
  productId: string;
  product: CatalogueName;
  kind: string;
  quantity: number;
  threshold: number;
  occurredAt: string;
};
type ActivityEvent = {
  cursor: string;
  userId: string;
  type: string;
  productId: string;
  product: CatalogueName;
  quantity: number;
  unitPrice: string | null;
  currency: string | null;
  occurredAt: string;
};
type SalesAlert = {
  cursor: string;
  id: string;
  kind: string;
  metric: string;
  status: string;
  windowStart: string;
  localStart: string;
  currency: string | null;
  productId: string | null;
  expected: string;
  observed: string;
  score: number;
  version: number;
};
type RecommendationList = {
  userId: string;
  items: Array<{ productId: string; product: CatalogueName; score: number; reason: string }>;
};

/** The catalogue's name with the id, or the bare id for a product the catalogue does not know. */
function productLabel(productId: string, product: CatalogueName): string {
  return product ? `${product.name} (${productId})` : `product ${productId}`;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const style = document.createElement('style');
style.textContent = chartCss as string;
document.head.append(style);

// ---- credential

const credential = {
  get: () => localStorage.getItem(CREDENTIAL_KEY),
  header(): Record<string, string> {
    const value = credential.get();
    return value ? { authorization: /^bearer /i.test(value) ? value : `Bearer ${value}` } : {};
  },
};

let asking = false;
function askForCredential(reason: string): void {
  setStatus('refused', 'credential needed');
  if (asking) return;
  asking = true;
  const dialog = $<HTMLDialogElement>('credential-dialog');
  $('credential-reason').textContent = reason;
  dialog.showModal();
}

$<HTMLDialogElement>('credential-dialog').addEventListener('close', () => {
  asking = false;
  const dialog = $<HTMLDialogElement>('credential-dialog');
  const input = $<HTMLInputElement>('credential-input');
  if (dialog.returnValue === 'save' && input.value.trim()) localStorage.setItem(CREDENTIAL_KEY, input.value.trim());
  if (dialog.returnValue === 'clear') localStorage.removeItem(CREDENTIAL_KEY);
  input.value = '';
  restart();
});
$('credential-button').addEventListener('click', () => askForCredential('Enter an API key or a JWT (staff role).'));

function setStatus(state: 'live' | 'connecting' | 'refused', text: string): void {
  const status = $('status');
  status.dataset.state = state;
  status.textContent = text;
}

// ---- transport

async function query<T>(document: string, variables: Record<string, unknown> = {}): Promise<T | null> {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      ...credential.header(),
    },
    body: JSON.stringify({ query: document, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: GraphQLError[] };
  if (body.errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED')) {
    askForCredential(body.errors[0]?.message ?? 'This server needs a credential.');
    return null;
  }
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
  return body.data ?? null;
}

const REFUSED = 4403;
let client: Client = connect();

function connect(): Client {
  return createClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
    connectionParams: () => credential.header(),
    retryAttempts: Number.POSITIVE_INFINITY,
    // A refused credential will be refused again: ask instead of retrying.
    shouldRetry: (event) => (event as CloseEvent).code !== REFUSED,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** retries, 10_000))),
    on: {
      connected: () => setStatus('live', 'live'),
      closed: (event) => {
        const { code, reason } = event as CloseEvent;
        if (code === REFUSED) askForCredential(reason || 'The server refused the credential.');
        else if (!asking) setStatus('connecting', 'reconnecting…');
      },
    },
  });
}

type Follower = { start(): void; stop(): void };
const followers = new Set<Follower>();

/**
 * Follows one subscription field. `variables.after` is moved to each item's cursor; graphql-ws
 * sends the same payload object again when it reconnects, so a resumed stream starts after the
 * last item shown. A stream the server ends (RESYNC_REQUIRED, shutdown) is followed again.
 */
function follow<T>(field: string, document: string, variables: Record<string, unknown>, onItem: (item: T) => void) {
  const payload = { query: document, variables: { ...variables } };
  let unsubscribe: (() => void) | null = null;
  let stopped = false;
  let failures = 0;
  const follower: Follower = {
    start() {
      unsubscribe?.();
      stopped = false;
      unsubscribe = client.subscribe<Record<string, T>>(payload, {
        next(result) {
          const error = result.errors?.[0] as GraphQLError | undefined;
          if (error) {
            const cursor = error.extensions?.cursor;
            if (error.extensions?.code === 'RESYNC_REQUIRED' && cursor) payload.variables.after = cursor;
            else if (error.extensions?.code === 'UNAUTHENTICATED') askForCredential(error.message);
            return;
          }
          const item = result.data?.[field] as (T & { cursor?: string }) | undefined;
          if (!item) return;
          if (item.cursor) payload.variables.after = item.cursor;
          failures = 0;
          onItem(item);
        },
        error: () => {}, // the socket was refused; `closed` above asks for a credential, restart() follows again
        complete: () => {
          // Ended by the server (RESYNC_REQUIRED, UNAVAILABLE, shutdown): follow again, backing off.
          const delay = Math.min(250 * 2 ** failures++, 10_000);
          if (!stopped) setTimeout(() => !stopped && follower.start(), delay);
        },
      });
    },
    stop() {
      stopped = true;
      unsubscribe?.();
      unsubscribe = null;
    },
  };
  followers.add(follower);
  follower.start();
  return () => {
    follower.stop();
    followers.delete(follower);
  };
}

/** After a new credential: a new socket, every stream resumed from its last cursor. */
function restart(): void {
  for (const follower of followers) follower.stop();
  void client.dispose();
  client = connect();
  setStatus('connecting', 'connecting…');
  for (const follower of followers) follower.start();
  void loadTopProducts();
  void loadProcessors();
}

// ---- money: decimal strings, summed exactly (never as floats)

function addDecimal(a: string, b: string): string {
  const digits = Math.max(fractionDigits(a), fractionDigits(b));
  const sum = toMinor(a, digits) + toMinor(b, digits);
  const negative = sum < 0n;
  const text = (negative ? -sum : sum).toString().padStart(digits + 1, '0');
  const whole = text.slice(0, text.length - digits);
  return `${negative ? '-' : ''}${whole}${digits > 0 ? `.${text.slice(-digits)}` : ''}`;
}
const fractionDigits = (value: string) => (value.split('.')[1] ?? '').length;
function toMinor(value: string, digits: number): bigint {
  const [whole = '0', fraction = ''] = value.split('.');
  const sign = whole.startsWith('-') ? -1n : 1n;
  return sign * BigInt(`${whole.replace('-', '')}${fraction.padEnd(digits, '0')}`);
}

// ---- sales chart

const windows = new Map<string, Map<number, SalesWindow>>(); // currency → minute start (s) → latest state
const currencySelect = $<HTMLSelectElement>('currency');
let chart: uPlot | null = null;

function showSale(sale: SalesWindow): void {
  let byStart = windows.get(sale.currency);
  if (!byStart) {
    byStart = new Map();
    windows.set(sale.currency, byStart);
    currencySelect.append(new Option(sale.currency, sale.currency));
    if (!currencySelect.value || sale.currency === 'USD') currencySelect.value = sale.currency;
  }
  const start = Date.parse(sale.start) / 1000;
  if ((byStart.get(start)?.revision ?? -1) > sale.revision) return;
  byStart.set(start, sale);
  scheduleChart();
}

let chartPending = false;
function scheduleChart(): void {
  if (chartPending) return;
  chartPending = true;
  requestAnimationFrame(() => {
    chartPending = false;
    drawChart();
  });
}

function drawChart(): void {
  const currency = currencySelect.value;
  const now = Math.floor(Date.now() / 60_000) * 60;
  const from = now - (CHART_MINUTES - 1) * 60;
  const byStart = windows.get(currency) ?? new Map<number, SalesWindow>();
  const xs: number[] = [];
  const revenue: number[] = [];
  const orders: number[] = [];
  let total = '0';
  let net = '0';
  let totalOrders = 0;
  let shown = 0;
  for (let t = from; t <= now; t += 60) {
    const sale = byStart.get(t);
    xs.push(t);
    // Plotted as a number (a pixel position); totals stay exact decimal strings.
    revenue.push(sale ? Number(sale.revenue) : 0);
    orders.push(sale?.orders ?? 0);
    if (sale) {
      total = addDecimal(total, sale.revenue);
      net = addDecimal(net, sale.netRevenue);
      totalOrders += sale.orders;
      shown++;
    }
  }
  $('sales-summary').textContent =
    shown === 0
      ? `no sales in the last ${CHART_MINUTES} minutes yet`
      : `last ${CHART_MINUTES} minutes: ${total} ${currency} revenue, ${totalOrders} orders, ${net} ${currency} net of refunds`;
  const box = $('chart');
  box.dataset.windows = String(shown);
  const data: uPlot.AlignedData = [xs, revenue, orders];
  if (chart) {
    chart.setData(data);
    return;
  }
  chart = new uPlot(
    {
      width: box.clientWidth || 800,
      height: 240,
      series: [
        {},
        { label: 'revenue', stroke: '#15803d', fill: 'rgba(21,128,61,0.12)', width: 2, scale: 'money' },
        { label: 'orders', stroke: '#2563eb', width: 2, scale: 'orders', paths: uPlot.paths.bars?.({ size: [0.5] }) },
      ],
      axes: [
        {},
        { scale: 'money', label: 'revenue' },
        { scale: 'orders', side: 1, label: 'orders', grid: { show: false } },
      ],
      scales: {
        money: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] },
        orders: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.2] },
      },
    },
    data,
    box,
  );
  new ResizeObserver(() => chart?.setSize({ width: box.clientWidth, height: 240 })).observe(box);
}
currencySelect.addEventListener('change', drawChart);
setInterval(drawChart, 15_000); // the x axis moves with the clock

const WINDOW_FIELDS = 'cursor start currency revenue netRevenue orders units revision';

async function startSales(): Promise<void> {
  const to = new Date(Date.now() + 60_000);
  const from = new Date(to.getTime() - (CHART_MINUTES + 1) * 60_000);
  const data = await query<{ sales: SalesWindow[] }>(
    `query ($from: DateTime!, $to: DateTime!) { sales(size: MINUTE, from: $from, to: $to) { ${WINDOW_FIELDS} } }`,
    { from: from.toISOString(), to: to.toISOString() },
  ).catch(() => null);
  for (const sale of data?.sales ?? []) showSale(sale);
  drawChart();
  // Windows changed after the query arrive as updates; an older revision never overwrites a newer one.
  follow<SalesWindow>(
    'salesUpdates',
    `subscription ($after: String) { salesUpdates(size: MINUTE, after: $after) { ${WINDOW_FIELDS} } }`,
    { after: null },
    showSale,
  );
}

// ---- lists

function time(iso: string): string {
  return new Date(iso).toLocaleTimeString();
}

function prepend(listId: string, item: HTMLLIElement): void {
  const list = $(listId);
  list.querySelector('.empty')?.remove();
  list.prepend(item);
  while (list.children.length > LIST_LENGTH) list.lastElementChild?.remove();
}

function row(...parts: Array<Node | string>): HTMLLIElement {
  const li = document.createElement('li');
  li.append(...parts);
  return li;
}

function span(className: string, text: string): HTMLSpanElement {
  const element = document.createElement('span');
  element.className = className;
  element.textContent = text;
  return element;
}

const WARNING_FIELDS = 'cursor productId product { name } kind quantity threshold occurredAt';

function showWarning(warning: StockWarning): void {
  prepend(
    'warning-list',
    row(
      span(`kind ${warning.kind}`, warning.kind.replaceAll('_', ' ')),
      `${productLabel(warning.productId, warning.product)}: ${warning.quantity} left (threshold ${warning.threshold})`,
      span('time', time(warning.occurredAt)),
    ),
  );
}

async function startWarnings(): Promise<void> {
  // The last hour's warnings first, then live from where that page ended.
  const from = new Date(Date.now() - 3_600_000).toISOString();
  const data = await query<{
    stockWarnings: { edges: Array<{ node: StockWarning }>; pageInfo: { endCursor: string | null } };
  }>(
    `query ($from: DateTime) { stockWarnings(from: $from, first: 100) { edges { node { ${WARNING_FIELDS} } } pageInfo { endCursor } } }`,
    { from },
  ).catch(() => null);
  for (const { node } of data?.stockWarnings.edges ?? []) showWarning(node);
  follow<StockWarning>(
    'stockWarnings',
    `subscription ($after: String) { stockWarnings(after: $after) { ${WARNING_FIELDS} } }`,
    { after: data?.stockWarnings.pageInfo.endCursor ?? null },
    showWarning,
  );
}

// ---- sales alerts: a state stream; each alert is shown in its latest state, newest hour first.

const ALERT_FIELDS =
  'cursor id kind metric status windowStart localStart currency productId expected observed score version';
const alerts = new Map<string, SalesAlert>();

function showAlert(alert: SalesAlert): void {
  const known = alerts.get(alert.id);
  if (known && known.version > alert.version) return;
  alerts.set(alert.id, alert);
  const latest = [...alerts.values()]
    .sort((a, b) => (a.windowStart < b.windowStart ? 1 : a.windowStart > b.windowStart ? -1 : 0))
    .slice(0, LIST_LENGTH);
  for (const old of alerts.keys()) if (!latest.some((a) => a.id === old)) alerts.delete(old);
  $('alert-list').replaceChildren(
    ...latest.map((a) => {
      const what =
        a.metric === 'UNITS' ? `units of product ${a.productId}` : `${a.metric.toLowerCase()} (${a.currency})`;
      const item = row(
        span(`kind ${a.kind}${a.status === 'CLEARED' ? ' CLEARED' : ''}`, a.kind.replace('SALES_', '').toLowerCase()),
        `${what}: ${a.observed} for ${a.expected} expected (score ${a.score})${a.status === 'CLEARED' ? ', cleared by late events' : ''}`,
        span('time', `${a.localStart.slice(0, 16).replace('T', ' ')}${a.version > 1 ? ` · v${a.version}` : ''}`),
      );
      item.dataset.alert = `${a.kind} ${a.metric} ${a.status}`;
      return item;
    }),
  );
}

async function startAlerts(): Promise<void> {
  // The last week's alerts first, then live from where that page ended.
  const from = new Date(Date.now() - 7 * 86_400_000).toISOString();
  const data = await query<{
    salesAlerts: { edges: Array<{ node: SalesAlert }>; pageInfo: { endCursor: string | null } };
  }>(
    `query ($from: DateTime) { salesAlerts(from: $from, first: 200) { edges { node { ${ALERT_FIELDS} } } pageInfo { endCursor } } }`,
    { from },
  ).catch(() => null);
  for (const { node } of data?.salesAlerts.edges ?? []) showAlert(node);
  follow<SalesAlert>(
    'salesAlerts',
    `subscription ($after: String) { salesAlerts(after: $after) { ${ALERT_FIELDS} } }`,
    { after: data?.salesAlerts.pageInfo.endCursor ?? null },
    showAlert,
  );
}

function showActivity(event: ActivityEvent): void {
  const user = span('user', `shopper ${event.userId}`);
  user.title = 'show recommendations for this shopper';
  user.addEventListener('click', () => pickShopper(event.userId));
  const price = event.type === 'PURCHASE' && event.unitPrice ? ` × ${event.unitPrice} ${event.currency ?? ''}` : '';
  prepend(
    'activity-list',
    row(
      span(`kind ${event.type}`, event.type.replaceAll('_', ' ').toLowerCase()),
      user,
      `${productLabel(event.productId, event.product)}${event.quantity > 1 || price ? ` ×${event.quantity}` : ''}${price}`,
      span('time', time(event.occurredAt)),
    ),
  );
}

function startActivity(): void {
  follow<ActivityEvent>(
    'userActivity',
    `subscription ($after: String) { userActivity(after: $after) { cursor userId type productId product { name } quantity unitPrice currency occurredAt } }`,
    { after: null },
    showActivity,
  );
}

// ---- top products

const topMetric = $<HTMLSelectElement>('top-metric');

async function loadTopProducts(): Promise<void> {
  const from = new Date(Date.now() - 3_600_000).toISOString();
  const by = topMetric.value;
  const data = await query<{ topProducts: Array<{ productId: string; product: CatalogueName; value: string }> }>(
    `query ($by: ProductMetric!, $from: DateTime) { topProducts(by: $by, from: $from, limit: 10) { productId product { name } value } }`,
    { by, from },
  ).catch(() => null);
  if (!data) return;
  const body = $('top-table');
  body.replaceChildren(
    ...(data.topProducts.length === 0
      ? [tableRow('nothing yet', '')]
      : data.topProducts.map((stat) => tableRow(productLabel(stat.productId, stat.product), stat.value))),
  );
}

function tableRow(label: string, value: string): HTMLTableRowElement {
  const tr = document.createElement('tr');
  const name = document.createElement('td');
  name.textContent = label;
  const number = document.createElement('td');
  number.className = 'value';
  number.textContent = value;
  tr.append(name, number);
  return tr;
}

topMetric.addEventListener('change', () => void loadTopProducts());
setInterval(() => void loadTopProducts(), 5_000);

// ---- processors: how far each is behind the event log

async function loadProcessors(): Promise<void> {
  const data = await query<{
    processors: Array<{ processor: string; log: string; events: number; seconds: number }>;
  }>('{ processors { processor log events seconds } }').catch(() => null);
  if (!data) return;
  $('processor-table').replaceChildren(
    ...data.processors.map((p) =>
      tableRow(
        `${p.processor} · ${p.log} log`,
        p.events === 0 ? 'caught up' : `${p.events} events, ${p.seconds.toFixed(1)} s behind`,
      ),
    ),
  );
}

setInterval(() => void loadProcessors(), 2_000);

// ---- recommendations of one shopper

const shopperInput = $<HTMLInputElement>('shopper');
let stopRecommendations: (() => void) | null = null;

function pickShopper(userId: string): void {
  shopperInput.value = userId;
  stopRecommendations?.();
  stopRecommendations = null;
  const list = $('recommendation-list');
  if (!userId) {
    list.replaceChildren(row(span('empty', 'pick a shopper')));
    return;
  }
  list.replaceChildren(row(span('empty', 'loading…')));
  stopRecommendations = follow<RecommendationList>(
    'recommendations',
    `subscription ($userId: ID!) { recommendations(userId: $userId, limit: 5) { userId items { productId product { name } score reason } } }`,
    { userId },
    (recommended) => {
      if (recommended.userId !== shopperInput.value) return;
      list.replaceChildren(
        ...(recommended.items.length === 0
          ? [row(span('empty', 'nothing to recommend yet'))]
          : recommended.items.map((item) =>
              row(
                productLabel(item.productId, item.product),
                span('time', `${item.reason} · ${item.score.toFixed(2)}`),
              ),
            )),
      );
    },
  );
}

shopperInput.addEventListener('change', () => pickShopper(shopperInput.value.trim()));

void startSales();
void startWarnings();
void startAlerts();
startActivity();
void loadTopProducts();
void loadProcessors();
