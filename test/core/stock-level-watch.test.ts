// The stockLevels subscription's watch, with a scripted database: the first levels, conflation
// for a subscriber that does not read, no repeat of an unchanged level, and bad input.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createStockLevelWatch } from '../../src/core/inventory/level-watch.js';
import { createInProcessFanout } from '../../src/feed/fanout.js';

function scriptedDb() {
  const state = { quantity: 5 as number | null, reads: 0 };
  let onRead: (() => void) | null = null;
  const db = {
    query: async (_sql: string, params: unknown[]) => {
      const ids = params[0] as string[];
      const rows = ids.map((id) => ({
        product_id: id,
        quantity: id === 'p' ? state.quantity : null,
        threshold: 10,
        updated_at: new Date(0),
      }));
      state.reads++;
      queueMicrotask(() => onRead?.());
      return { rows };
    },
  };
  /** Resolves after the next read has been offered to the subscribers. */
  const nextRead = () =>
    new Promise<void>((resolve) => {
      onRead = () => {
        onRead = null;
        setImmediate(resolve);
      };
    });
  return { db: db as never, state, nextRead };
}

describe('stock level watch', () => {
  it('sends the current levels, then only the latest of several changes to a subscriber that did not read', async () => {
    const { db, state, nextRead } = scriptedDb();
    const fanout = createInProcessFanout();
    const watch = createStockLevelWatch({
      db,
      fanout,
      defaultThreshold: 10,
      pollIntervalMs: 60_000,
      log: pino({ level: 'silent' }),
    });
    const first = nextRead();
    const stream = watch.follow(['p', 'q']);
    await first;
    const initial = [(await stream.next()).value, (await stream.next()).value];
    expect(initial.map((l) => [l.productId, l.quantity, l.isSet])).toEqual([
      ['p', 5, true],
      ['q', 0, false],
    ]);

    for (const quantity of [4, 3, 2]) {
      state.quantity = quantity;
      const read = nextRead();
      fanout.publish('processing:checkpoint');
      await read;
    }
    expect((await stream.next()).value).toMatchObject({ productId: 'p', quantity: 2 });

    // An unchanged level is not sent again; the next change is.
    let read = nextRead();
    fanout.publish('processing:checkpoint');
    await read;
    const waiting = stream.next();
    state.quantity = 1;
    read = nextRead();
    fanout.publish('inventory:warning');
    await read;
    expect((await waiting).value).toMatchObject({ productId: 'p', quantity: 1 });

    watch.close();
    expect(await stream.next()).toEqual({ value: undefined, done: true });
  });

  it('refuses an empty or too long list of products', () => {
    const { db } = scriptedDb();
    const watch = createStockLevelWatch({
      db,
      fanout: createInProcessFanout(),
      defaultThreshold: 10,
      pollIntervalMs: 60_000,
      log: pino({ level: 'silent' }),
    });
    expect(() => watch.follow([])).toThrow(/productIds must name 1 to 1000 products, got 0/);
    expect(() => watch.follow(Array.from({ length: 1001 }, (_, i) => `p${i}`))).toThrow(/got 1001/);
    watch.close();
    expect(() => watch.follow(['p'])).toThrow(/shutting down/);
  });
});
