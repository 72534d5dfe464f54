// Shared moves of the multi-process, crash and fault tests: send activity, read the activity
// feed's current cursor, and follow it from a cursor while checking order and uniqueness.
import { comparePositions, decodeCursor, encodeCursor, START } from '../../src/feed/cursor.js';
import { gql, subscribe } from './clients.js';

export type ActivityInput = {
  eventId: string;
  userId: string;
  type: 'BROWSE' | 'ADD_TO_CART' | 'REMOVE_FROM_CART' | 'PURCHASE';
  productId: string;
  quantity?: number;
  unitPrice?: string;
  currency?: string;
  orderId?: string;
  occurredAt?: string;
};

const RECORD = `mutation ($e: [ActivityEventInput!]!) {
  recordActivity(events: $e) { accepted duplicates errors { index code message } }
}`;

/** Sends one batch; throws unless it was answered without GraphQL errors. */
export async function recordActivity(url: string, events: ActivityInput[]) {
  const result = await gql(url, RECORD, { e: events });
  if (result.errors || !result.data) throw new Error(`recordActivity failed: ${JSON.stringify(result.errors)}`);
  return result.data.recordActivity as { accepted: number; duplicates: number; errors: unknown[] };
}

/** A cursor before every item: follow from here to receive a fresh database's whole feed. */
export const FROM_START = encodeCursor(START);

export const FOLLOW_ACTIVITY = `subscription ($after: String) { userActivity(after: $after) { eventId cursor } }`;

export type Followed = { eventId: string; cursor: string };

/** Asserts that cursors strictly increase (cursor order, no repeats). */
export function expectCursorOrder(items: Followed[]): void {
  for (let i = 1; i < items.length; i++) {
    const before = decodeCursor((items[i - 1] as Followed).cursor);
    const after = decodeCursor((items[i] as Followed).cursor);
    if (comparePositions(before, after) >= 0) {
      throw new Error(`cursor order broken at item ${i}: ${items[i - 1]?.eventId} then ${items[i]?.eventId}`);
    }
  }
}

/** Follows the activity feed on `wsUrl` from `after` until `count` items arrived. */
export async function followActivity(wsUrl: string, after: string | null, count: number, timeoutMs = 20_000) {
  const sub = subscribe<{ userActivity: Followed }>(wsUrl, FOLLOW_ACTIVITY, { after });
  try {
    const items: Followed[] = [];
    while (items.length < count) {
      const result = await sub.next(timeoutMs);
      if (result.errors) throw new Error(`subscription error: ${JSON.stringify(result.errors)}`);
      items.push((result.data as { userActivity: Followed }).userActivity);
    }
    return items;
  } finally {
    await sub.dispose();
  }
}
