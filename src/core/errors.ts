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
