// Where a webhook may be sent: http(s) only, and not to loopback, private, link-local or other
// internal addresses unless WEBHOOKS_ALLOW_PRIVATE (an admin's URL must not become a way to reach
// the service's own network, SSRF). Checked at registration and again at every attempt, since a
// name may resolve elsewhere later. At an attempt the name is resolved ONCE, every address is
// checked, and the connection goes to that checked address (pinDestination, send.ts): a second
// lookup by the HTTP client could be answered differently (DNS rebinding) and is never made.
// Node's own BlockList and dns: no dependency needed.
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { CoreError, InvalidInput } from '../errors.js';

/** The URL is well formed but points where webhooks may not go. */
export class WebhookUrlRefused extends CoreError {
  constructor(message: string) {
    super('WEBHOOK_URL_REFUSED', message);
  }
}

const INTERNAL = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv6');
}

/** True for an address webhooks may not reach by default (IPv4-mapped IPv6 checked as IPv4). */
export function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return INTERNAL.check(mapped[1] as string, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return INTERNAL.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Every address of a name, as the system resolver answers (A and AAAA). */
export type Resolve = (host: string) => Promise<string[]>;

export const resolveHost: Resolve = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * The address an attempt connects to: the URL's host resolved once (an IP literal as it is),
 * every address checked unless `allowPrivate`; the first one is returned. Throws
 * WEBHOOK_URL_REFUSED when any address is internal, and the resolver's error (ENOTFOUND) when
 * the name does not resolve.
 */
export async function pinDestination(
  url: URL,
  options: { allowPrivate: boolean; resolve?: Resolve },
): Promise<{ address: string; family: 4 | 6 }> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) !== 0 ? [host] : await (options.resolve ?? resolveHost)(host);
  const first = addresses[0];
  if (first === undefined) throw new Error(`${host} resolves to no address`);
  if (!options.allowPrivate) {
    const internal = addresses.find(isInternalAddress);
    if (internal !== undefined) {
      throw new WebhookUrlRefused(
        `url points to ${host === internal ? internal : `${host} (${internal})`}, a loopback or private address; set WEBHOOKS_ALLOW_PRIVATE=true to allow it`,
      );
    }
  }
  return { address: first, family: isIP(first) === 6 ? 6 : 4 };
}

/** Parses and checks `raw`; throws BAD_USER_INPUT (malformed) or WEBHOOK_URL_REFUSED. */
export async function checkDestination(raw: string, options: { allowPrivate: boolean }): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidInput(`url must be an absolute http:// or https:// URL, got "${raw.slice(0, 200)}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidInput(`url must use http or https, got ${url.protocol.replace(/:$/, '')}`);
  }
  if (url.username || url.password) {
    throw new InvalidInput('url must not carry a user name or password: the signature authenticates deliveries');
  }
  if (options.allowPrivate) return url;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch {
      // Not resolvable now (not yet in DNS, or no DNS here): nothing internal to refuse. Each
      // attempt checks again, and an attempt to a name that still does not resolve fails.
      return url;
    }
  }
  const internal = addresses.find(isInternalAddress);
  if (internal !== undefined) {
    throw new WebhookUrlRefused(
      `url points to ${host === internal ? internal : `${host} (${internal})`}, a loopback or private address; set WEBHOOKS_ALLOW_PRIVATE=true to allow it`,
    );
  }
  return url;
}
