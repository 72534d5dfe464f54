// One webhook POST to the address that was checked: the host is resolved once (pinDestination),
// and node:http(s) connects to that address through its `lookup` hook, so no second, possibly
// rebound, lookup happens between the check and the connection. The Host header and the TLS
// server name (SNI, and the certificate check) stay the URL's name. A fresh connection per
// attempt (agent: false): a pooled socket would outlive the check that admitted it.
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { pinDestination, type Resolve } from './destination.js';

export type SendResult = { status: number; text: string };

export type SendOptions = {
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
  allowPrivate: boolean;
  /** Read at most this many characters of an answer that is not 2xx. */
  errorTextLimit: number;
  resolve?: Resolve;
};

/** POSTs `body` to `target`; rejects on a refused or unresolvable destination, a network error or an abort. */
export async function sendWebhook(target: string, options: SendOptions): Promise<SendResult> {
  const url = new URL(target);
  const pinned = await pinDestination(url, { allowPrivate: options.allowPrivate, resolve: options.resolve });
  const lookup: LookupFunction = (_host, lookupOptions, callback) => {
    if (lookupOptions.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
    else callback(null, pinned.address, pinned.family);
  };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<SendResult>((resolve, reject) => {
    const request = client.request(
      url,
      {
        method: 'POST',
        headers: { ...options.headers, 'content-length': Buffer.byteLength(options.body).toString() },
        lookup,
        agent: false,
        signal: options.signal,
      },
      (response) => {
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          // A success's body is not read; the connection is closed instead.
          response.destroy();
          resolve({ status, text: '' });
          return;
        }
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
          if (text.length >= options.errorTextLimit) {
            response.destroy();
            resolve({ status, text: text.slice(0, options.errorTextLimit) });
          }
        });
        response.on('end', () => resolve({ status, text }));
        response.on('error', () => resolve({ status, text }));
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}
