// Several independent writes sent as ONE statement (data-modifying CTEs), so they cost one round
// trip instead of one each: on a busy 2-core machine a round trip costs a millisecond or more,
// which a processor applying small batches pays several times per batch.
import type pg from 'pg';

type Queryable = Pick<pg.PoolClient, 'query'>;

/** A write statement with its own `$1…$n` placeholders. It must not read what another one writes:
 * PostgreSQL runs the parts on one snapshot, and none sees the others' rows. */
export type Write = { text: string; values: unknown[] };

/** Runs `writes` as one statement; null entries are skipped. */
export async function writeTogether(db: Queryable, writes: ReadonlyArray<Write | null>): Promise<void> {
  const present = writes.filter((w): w is Write => w !== null);
  if (present.length === 0) return;
  if (present.length === 1) {
    const [only] = present as [Write];
    await db.query(only.text, only.values);
    return;
  }
  const values: unknown[] = [];
  const parts = present.map((write) => {
    const offset = values.length;
    for (const value of write.values) values.push(value);
    // Placeholders are renumbered: the parts' parameters follow each other.
    return offset === 0 ? write.text : write.text.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
  });
  const last = parts.pop() as string;
  await db.query(`WITH ${parts.map((part, i) => `w${i} AS (${part})`).join(', ')} ${last}`, values);
}
