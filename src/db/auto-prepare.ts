// Statements that run again and again (the feed's reads, the log appends, the processors' writes)
// are prepared on each connection once they have run a few times, so PostgreSQL stops planning
// them anew on every execution: a feed read cost about 0.55 ms unprepared and 0.1 ms prepared,
// most of it planning. This is what the JDBC driver (prepareThreshold) and Npgsql (auto-prepare)
// do. Only statements sent with parameters (the extended protocol) qualify; a text is named after
// AUTO_PREPARE_AFTER uses, and at most MAX_PREPARED texts are named, so SQL built with inlined
// values cannot fill the server's memory. PostgreSQL still chooses, per statement, between a plan
// per execution and a generic one (plan_cache_mode auto).
import pg from 'pg';

/** Uses of a text before it is prepared. */
export const AUTO_PREPARE_AFTER = 5;
/** Texts prepared at most, per process; later ones run unprepared. */
export const MAX_PREPARED = 256;
/** Texts counted at most before the counts of unnamed ones start over. */
const MAX_COUNTED = 10_000;

const names = new Map<string, string>();
const uses = new Map<string, number>();

/** The statement name for `text`, once it has been used often enough; null until then. */
function nameFor(text: string): string | null {
  const name = names.get(text);
  if (name) return name;
  const count = (uses.get(text) ?? 0) + 1;
  if (count < AUTO_PREPARE_AFTER || names.size >= MAX_PREPARED) {
    if (uses.size >= MAX_COUNTED) uses.clear();
    uses.set(text, count);
    return null;
  }
  uses.delete(text);
  const named = `shopstream_auto_${names.size + 1}`;
  names.set(text, named);
  return named;
}

type QueryConfig = { text?: string; name?: string; values?: unknown[]; submit?: unknown };

/** A pg.Client (for pg.Pool's `Client` option) that prepares its frequent statements. */
export class AutoPreparingClient extends pg.Client {
  // pg's query() has many overloads; the arguments pass through unchanged but for the name.
  override query(...args: unknown[]): never {
    const [first, second] = args;
    if (typeof first === 'string' && Array.isArray(second)) {
      const name = nameFor(first);
      if (name) args[0] = { name, text: first };
    } else if (isPlainConfig(first) && first.name === undefined && Array.isArray(first.values)) {
      const name = nameFor(first.text as string);
      if (name) args[0] = { ...first, name };
    }
    return (super.query as (...a: unknown[]) => never)(...args);
  }
}

function isPlainConfig(value: unknown): value is QueryConfig {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as QueryConfig).text === 'string' &&
    typeof (value as QueryConfig).submit !== 'function'
  );
}
