// Group commit. One small request per transaction pays the transaction's fixed cost (BEGIN,
// COMMIT's WAL flush, a dozen round trips of derived-state statements) every time, and
// concurrent ones queue on the same hot rows (current sales windows, stock, pairs). So requests
// that arrive while transactions are in flight wait, and the next free slot stores all of them
// in ONE transaction: 16 concurrent one-event requests cost a couple of transactions, not 16.
//
// No timers and no added latency when idle: a request that finds a free slot starts at once.
// Each request still gets its own answer (its own report, or the group's error), and a request
// is answered only after the transaction that stored it has committed (invariant 1). A group
// that fails because of one request's data is stored again one request at a time, so that a
// caller never gets an error that another caller's events caused.

/** Two transactions may overlap their I/O; more would mostly queue on the same rows. */
export const DEFAULT_MAX_IN_FLIGHT = 2;

export type GroupCommitOptions<Request, Result> = {
  /** Transactions at once in this process; further requests wait in arrival order. */
  maxInFlight?: number;
  /** A group takes waiting requests while their sizes add up to at most this (never splits one). */
  maxGroupSize: number;
  sizeOf: (request: Request) => number;
  /** Stores a group in one transaction; returns one result per request, in the same order. */
  commit: (requests: readonly Request[]) => Promise<readonly Result[]>;
  /** True for errors that one request's data can cause (not a failing database): see above. */
  isolates?: (error: unknown) => boolean;
};

type Waiting<Request, Result> = {
  request: Request;
  size: number;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
};

export function createGroupCommit<Request, Result>(
  options: GroupCommitOptions<Request, Result>,
): (request: Request) => Promise<Result> {
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  if (!(Number.isInteger(maxInFlight) && maxInFlight >= 1)) {
    throw new RangeError(`maxInFlight must be a whole number of at least 1, got ${maxInFlight}`);
  }
  const queue: Waiting<Request, Result>[] = [];
  let inFlight = 0;

  const startGroups = () => {
    while (inFlight < maxInFlight && queue.length > 0) {
      // A request larger than the limit still goes, alone: the caller checked its own size.
      const group = [queue.shift() as Waiting<Request, Result>];
      let size = group[0]?.size ?? 0;
      while (queue.length > 0 && size + (queue[0] as Waiting<Request, Result>).size <= options.maxGroupSize) {
        const next = queue.shift() as Waiting<Request, Result>;
        size += next.size;
        group.push(next);
      }
      inFlight++;
      void run(group);
    }
  };

  const run = async (group: Waiting<Request, Result>[]) => {
    try {
      await settle(group);
    } finally {
      inFlight--;
      startGroups();
    }
  };

  /** Commits `group` and answers each of its requests; never throws. */
  const settle = async (group: Waiting<Request, Result>[]): Promise<void> => {
    try {
      const results = await options.commit(group.map((w) => w.request));
      if (results.length !== group.length) {
        throw new Error(`group commit: ${results.length} results for ${group.length} requests`);
      }
      for (const [i, waiting] of group.entries()) waiting.resolve(results[i] as Result);
    } catch (error) {
      if (group.length > 1 && options.isolates?.(error)) {
        // In arrival order, still in this slot: the feed keeps the order the requests came in.
        for (const waiting of group) await settle([waiting]);
        return;
      }
      // Stored (or not) together, so they fail together: a broken database fails them all.
      for (const waiting of group) waiting.reject(error);
    }
  };

  return (request) =>
    new Promise<Result>((resolve, reject) => {
      queue.push({ request, size: options.sizeOf(request), resolve, reject });
      startGroups();
    });
}
