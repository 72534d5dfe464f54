// Which browser origins may call the API and open WebSockets (ALLOWED_ORIGINS). A request without
// an Origin header comes from a server, not a browser page, and is always allowed; so is a page
// served by this server itself (its Origin names the Host it sent), such as the dashboard.

/** True when a request with this Origin (and Host) header may proceed; `allowed` null allows any. */
export function isOriginAllowed(
  origin: string | undefined,
  host: string | undefined,
  allowed: readonly string[] | null,
): boolean {
  if (origin === undefined || allowed === null) return true;
  if (allowed.includes(origin)) return true;
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false; // "null" (a sandboxed page, a file) and anything unreadable
  }
}

export const ORIGIN_REFUSED =
  'this Origin may not use the API: add it to ALLOWED_ORIGINS on the server, or call from a server (no Origin header)';
