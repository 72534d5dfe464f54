// Rejected events are kept for admins (invariant 7): what arrived, where, and why.

import type { PrismaClient } from '../../db/generated/prisma/client.js';
import type { Tx } from '../../db/transaction.js';
import { InvalidInput } from '../errors.js';
import { checkPageSize } from '../paging.js';
import type { Rejection } from './rejections.js';

export type IngestStream = 'activity' | 'inventory';

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

export async function storeDeadLetters(
  tx: Tx,
  stream: IngestStream,
  rejections: readonly Rejection[],
  inputs: readonly unknown[],
): Promise<void> {
  if (rejections.length === 0) return;
  await tx.query(
    `INSERT INTO dead_letters (stream, event_id, batch_index, code, message, payload)
     SELECT $1, * FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::jsonb[])`,
    [
      stream,
      rejections.map((r) => r.eventId),
      rejections.map((r) => r.index),
      rejections.map((r) => r.code),
      rejections.map((r) => r.message),
      rejections.map((r) => JSON.stringify(inputs[r.index] ?? null)),
    ],
  );
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
    orderBy: { id: 'desc' },
    take: checkPageSize(options.first),
  });
  return rows.map((row) => ({
    ...row,
    id: row.id.toString(),
    stream: row.stream as IngestStream,
  }));
}
