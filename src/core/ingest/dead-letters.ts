// Rejected events are kept for admins (invariant 7): what arrived, where, and why.

import type { PrismaClient } from '../../db/generated/prisma/client.js';
import type { Tx } from '../../db/transaction.js';
import { InvalidInput } from '../errors.js';
import { checkPageSize } from '../paging.js';
import type { Rejection } from './rejections.js';

export type IngestStream = 'activity' | 'inventory' | 'catalogue' | 'refunds';

export type DeadLetter = {
  id: string;
  stream: IngestStream;
  eventId: string | null;
  batchIndex: number;
  code: string;
  message: string;
  payload: unknown;
  receivedAt: Date;
};

/** The rejected events of one batch, with the inputs their indexes point into. */
export type RejectedBatch = { errors: readonly Rejection[]; inputs: readonly unknown[] };

/**
 * Stores the rejections of several batches (a commit group) with one statement. A rejection
 * already stored (same stream, code and raw item: a resent batch) is not stored again; the
 * mutation still reports it every time. The first letter keeps its message, index and time.
 */
export async function storeDeadLetters(tx: Tx, stream: IngestStream, batches: readonly RejectedBatch[]): Promise<void> {
  const letters = batches.flatMap(({ errors, inputs }) =>
    errors.map(({ eventId, message, ...rest }) => ({
      rejection: { ...rest, eventId: eventId === null ? null : storable(eventId), message: storable(message) },
      payload: JSON.stringify(inputs[rest.index] ?? null, (_key, value) =>
        typeof value === 'string' ? storable(value) : value,
      ),
    })),
  );
  if (letters.length === 0) return;
  await tx.query(
    `INSERT INTO dead_letters (stream, event_id, batch_index, code, message, payload, payload_sha256)
     SELECT $1, e, i, c, m, p, sha256(convert_to(p::text, 'UTF8'))
       FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::jsonb[]) AS t(e, i, c, m, p)
         ON CONFLICT (stream, code, payload_sha256) DO NOTHING`,
    [
      stream,
      letters.map((l) => l.rejection.eventId),
      letters.map((l) => l.rejection.index),
      letters.map((l) => l.rejection.code),
      letters.map((l) => l.rejection.message),
      letters.map((l) => l.payload),
    ],
  );
}

// NUL, which PostgreSQL text and jsonb cannot hold, and unpaired surrogates, which jsonb refuses
// and text would turn into U+FFFD.
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is the character this looks for.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A rejected event is kept even when it holds characters PostgreSQL cannot store (that is often
 * why it was rejected): each is kept as the six characters of its JSON escape, `\u0000`, so the
 * letter is stored and reads back as text. The letter's message names the character it had.
 */
export function storable(text: string): string {
  return text.replace(UNSTORABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Newest first; `before` is the id of the last letter of the previous page. */
export async function listDeadLetters(
  prisma: PrismaClient,
  options: { stream?: IngestStream | null; first?: number | null; before?: string | null },
): Promise<DeadLetter[]> {
  if (options.before != null && !/^\d{1,19}$/.test(options.before)) {
    throw new InvalidInput(`before must be the id of a dead letter, got "${options.before.slice(0, 40)}"`);
  }
  const rows = await prisma.deadLetter.findMany({
    where: {
      ...(options.stream ? { stream: options.stream } : {}),
      ...(options.before ? { id: { lt: BigInt(options.before) } } : {}),
    },
    omit: { payloadSha256: true },
    orderBy: { id: 'desc' },
    take: checkPageSize(options.first),
  });
  return rows.map((row) => ({
    ...row,
    id: row.id.toString(),
    stream: row.stream as IngestStream,
  }));
}
