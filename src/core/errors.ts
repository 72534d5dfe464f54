// The few errors the core throws on purpose. Each has a stable `code` that the API layer
// passes to clients (schema/errors.ts); anything else is unexpected and gets masked.

export class CoreError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }

  /** Read by GraphQL when it wraps this error, so clients get `extensions.code`. */
  get extensions(): Record<string, unknown> {
    return { code: this.code, ...this.details };
  }
}

/** The request as a whole is wrong (a bad cursor, an impossible range); nothing was changed. */
export class InvalidInput extends CoreError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('BAD_USER_INPUT', message, details);
  }
}

/** A configured limit was exceeded; nothing was changed. */
export class LimitExceeded extends CoreError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}

/** The service is shutting down or its database is unreachable: try again later. */
export class Unavailable extends CoreError {
  constructor(message: string) {
    super('UNAVAILABLE', message);
  }
}

/** Every connection for queries stayed taken for POOL_WAIT_MS: nothing was read; retry shortly. */
export class Busy extends CoreError {
  constructor(message: string, retryAfterSeconds: number) {
    super('BUSY', message, { retryAfterSeconds });
  }
}

/** The query ran past STATEMENT_TIMEOUT_MS and PostgreSQL cancelled it; nothing was changed. */
export class QueryTimeout extends CoreError {
  constructor(message: string) {
    super('QUERY_TIMEOUT', message);
  }
}

/** True for PostgreSQL's query_canceled (57014): on the read pool, only its statement timeout cancels. */
export function isQueryCanceled(error: unknown): boolean {
  return anyCause(error, ({ code }) => code === '57014');
}

// A lost or refused database connection (a restart, a failover, the network): nothing was
// committed by the request that saw it, and the same request may succeed later. PostgreSQL's
// class 08 (connection exception) and 57P01-57P03 (shutdown, crash, starting up), the socket
// errors of node-postgres, and Prisma's "cannot reach / closed" codes.
const UNAVAILABLE_SQLSTATES = /^(08...|57P0[123]|53300)$/;
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'P1001',
  'P1002',
  'P1008',
  'P1017',
  'P2024',
]);
const UNAVAILABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|not queryable|Client was closed|Connection refused/i;

/** The Unavailable a database connection failure stands for, or null for any other error. */
export function databaseUnavailable(error: unknown): Unavailable | null {
  const isConnectionFailure = ({ code, message }: { code?: unknown; message?: unknown }) =>
    (typeof code === 'string' && (UNAVAILABLE_SQLSTATES.test(code) || UNAVAILABLE_CODES.has(code))) ||
    (typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message));
  return anyCause(error, isConnectionFailure)
    ? new Unavailable('the database is unavailable; nothing was changed, send the request again later')
    : null;
}

// PostgreSQL refuses NUL in text (22021) and its escape in jsonb (22P05). What the service writes
// is checked before (events in ingest/validate.ts, thresholds), so only a query's argument can
// carry one this far: the client's mistake, not a fault of ours.
const REFUSED_TEXT_SQLSTATES = new Set(['22021', '22P05']);

/** The InvalidInput a text value PostgreSQL cannot hold stands for, or null for any other error. */
export function unstorableText(error: unknown): InvalidInput | null {
  return anyCause(error, ({ code }) => typeof code === 'string' && REFUSED_TEXT_SQLSTATES.has(code))
    ? new InvalidInput('an argument holds the character U+0000 (NUL), which no stored text contains; remove it')
    : null;
}

/**
 * True when `test` holds for the error or one it wraps: Prisma's adapter sets `cause`,
 * AggregateError `errors`, and a Prisma client error keeps the driver's in
 * `meta.driverAdapterError` (e.g. P2039 wrapping PostgreSQL's 57P01 during a restart).
 */
function anyCause(error: unknown, test: (candidate: { code?: unknown; message?: unknown }) => boolean): boolean {
  const seen = new Set<unknown>();
  const visit = (candidate: unknown): boolean => {
    if (!candidate || typeof candidate !== 'object' || seen.has(candidate)) return false;
    seen.add(candidate);
    const { cause, errors, meta } = candidate as { cause?: unknown; errors?: unknown; meta?: unknown };
    const adapterError =
      meta && typeof meta === 'object' ? (meta as { driverAdapterError?: unknown }).driverAdapterError : undefined;
    return test(candidate) || visit(cause) || visit(adapterError) || (Array.isArray(errors) && errors.some(visit));
  };
  return visit(error);
}
