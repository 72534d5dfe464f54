// A feed position is (writing transaction id, sequence number); a cursor is that position
// made opaque. Positions order the feed; see feed.ts for why the transaction id comes first.
import { InvalidInput } from '../core/errors.js';

export type Position = { txId: bigint; seq: bigint };

export const START: Position = { txId: 0n, seq: 0n };

const PREFIX = 'v1:';

export function encodeCursor(position: Position): string {
  return Buffer.from(`${PREFIX}${position.txId}:${position.seq}`).toString('base64url');
}

/** Decodes a client's cursor; a malformed one is refused with a clear error. */
export function decodeCursor(cursor: string): Position {
  const text = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const match = /^v1:(\d{1,20}):(\d{1,20})$/.exec(text);
  if (!match) {
    throw new InvalidInput(`"${cursor.slice(0, 80)}" is not a cursor: pass a cursor this service returned`);
  }
  return { txId: BigInt(match[1] as string), seq: BigInt(match[2] as string) };
}

export function comparePositions(a: Position, b: Position): number {
  if (a.txId !== b.txId) return a.txId < b.txId ? -1 : 1;
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1;
  return 0;
}

export function isAfter(a: Position, b: Position): boolean {
  return comparePositions(a, b) > 0;
}
