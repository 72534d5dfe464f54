// The vocabulary of the user-activity stream, named as in contract.graphql.

export const ACTIVITY_TYPES = ['BROWSE', 'ADD_TO_CART', 'REMOVE_FROM_CART', 'PURCHASE'] as const;
export type ActivityType = (typeof ACTIVITY_TYPES)[number];

/** An event as an integration sends it: nothing is trusted yet. */
export type ActivityEventInput = {
  eventId: string;
  userId: string;
  type: string;
  productId: string;
  quantity?: number | null;
  unitPrice?: string | null;
  currency?: string | null;
  orderId?: string | null;
  occurredAt?: Date | string | null;
};

/** A validated, normalised event, ready to store. */
export type NewActivityEvent = {
  eventId: string;
  userId: string;
  type: ActivityType;
  productId: string;
  quantity: number;
  unitPriceMinor: bigint | null;
  currency: string | null;
  orderId: string | null;
  occurredAt: Date;
  /** occurredAt was not sent (it is the arrival time): a resend is compared without it. */
  timeDefaulted?: boolean;
};

/** A stored event with its place in the activity feed. */
export type ActivityEvent = NewActivityEvent & {
  cursor: string;
  receivedAt: Date;
};

export type ActivityFilter = {
  userId?: string | null;
  types?: readonly ActivityType[] | null;
  productId?: string | null;
  from?: Date | null;
  to?: Date | null;
};
