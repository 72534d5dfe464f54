// Each request's id: the one a trusted proxy sent (X-Request-Id, with TRUST_REQUEST_ID), else a
// new UUID. It goes on every log line of the request and back on the response.
import { randomUUID } from 'node:crypto';

// What a proxy's id looks like (UUIDs, ULIDs, nginx's $request_id, AWS trace ids); anything else
// is replaced, so a client cannot write arbitrary text into the logs.
const ACCEPTED = /^[A-Za-z0-9._:=+/-]{1,128}$/;

export const REQUEST_ID_HEADER = 'x-request-id';

export function requestIdFor(header: string | string[] | undefined, trusted: boolean): string {
  const given = Array.isArray(header) ? header[0] : header;
  return trusted && given && ACCEPTED.test(given) ? given : randomUUID();
}
