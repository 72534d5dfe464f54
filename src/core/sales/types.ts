// The vocabulary of the sales stream, named as in contract.graphql.
import type { Position } from '../../feed/cursor.js';
import type { SalesWindowSize } from './window.js';

export type { SalesWindowSize } from './window.js';

/**
 * One tumbling window of one currency, as stored. Money stays in minor units here; the API
 * formats it (formatMoney). `revision` is 1 when the window is created and goes up by 1 with
 * every later batch that changes it, so a late event visibly bumps an old window.
 */
export type SalesWindow = {
  position: Position;
  cursor: string;
  size: SalesWindowSize;
  start: Date;
  end: Date;
  /** The start on the shop's clock (SHOP_TIME_ZONE) with its offset: "2026-03-08T00:00:00-05:00". */
  localStart: string;
  currency: string;
  revenueMinor: bigint;
  orders: number;
  units: number;
  /** Refunds whose own occurredAt lies in the window (issue 16); revenueMinor stays sales only. */
  refunds: number;
  refundUnits: number;
  /** Net revenue is revenueMinor - refundMinor (negative when a window refunds more than it sells). */
  refundMinor: bigint;
  revision: number;
  updatedAt: Date;
};

/** Which windows a query or subscription wants; a missing currency means every currency. */
export type SalesFilter = {
  size: SalesWindowSize;
  currency?: string | null;
};
