// DataLoader-style batching: every key asked for while one piece of work runs (a GraphQL
// execution resolving a page of 500 items) is loaded with ONE call, after the current tick.
// Nothing is kept between batches, so a long-lived subscription never serves a stale value.

export type Loader<Key, Value> = (key: Key) => Promise<Value>;

/** `loadMany` answers for the keys given, in one round trip; a key missing from its Map is null. */
export function createBatchLoader<Key, Value>(
  loadMany: (keys: readonly Key[]) => Promise<ReadonlyMap<Key, Value>>,
): Loader<Key, Value | null> {
  let pending: Map<Key, Array<{ resolve: (value: Value | null) => void; reject: (error: unknown) => void }>> | null =
    null;
  const dispatch = (batch: NonNullable<typeof pending>) => {
    loadMany([...batch.keys()]).then(
      (values) => {
        for (const [key, waiters] of batch) for (const w of waiters) w.resolve(values.get(key) ?? null);
      },
      (error) => {
        for (const waiters of batch.values()) for (const w of waiters) w.reject(error);
      },
    );
  };
  return (key) =>
    new Promise((resolve, reject) => {
      if (!pending) {
        const batch = new Map<Key, Array<{ resolve: (value: Value | null) => void; reject: (e: unknown) => void }>>();
        pending = batch;
        // As DataLoader: after the promise jobs already queued (the resolvers of sibling list
        // items), so the whole page is in one batch.
        Promise.resolve().then(() =>
          process.nextTick(() => {
            pending = null;
            dispatch(batch);
          }),
        );
      }
      const waiters = pending.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else pending.set(key, [{ resolve, reject }]);
    });
}
