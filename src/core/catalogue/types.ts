// The vocabulary of the catalogue stream: what a product is called, its category and list price.

/** A catalogue entry as an integration sends it: nothing is trusted yet. */
export type ProductEventInput = {
  eventId: string;
  productId: string;
  name: string;
  category: string;
  /** A decimal string in `currency` ("19.99"); optional. */
  listPrice?: string | null;
  /** ISO 4217; default DEFAULT_CURRENCY when listPrice is given. */
  currency?: string | null;
  occurredAt?: Date | string | null;
};

/** A validated catalogue entry: the whole product as of occurredAt (a later one replaces every field). */
export type NewProductEvent = {
  eventId: string;
  productId: string;
  name: string;
  category: string;
  /** Minor units of `currency`; both null when the entry has no list price. */
  listPriceMinor: bigint | null;
  currency: string | null;
  occurredAt: Date;
  /** occurredAt was not sent (it is the arrival time): a resend is compared without it. */
  timeDefaulted?: boolean;
};

/** A product as the catalogue knows it now. */
export type Product = {
  productId: string;
  name: string;
  category: string;
  listPriceMinor: bigint | null;
  currency: string | null;
  /** Event time of the entry that says so. */
  occurredAt: Date;
  updatedAt: Date;
};
