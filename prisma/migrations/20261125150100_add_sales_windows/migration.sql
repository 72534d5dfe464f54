-- Sales: revenue, orders and units per tumbling window (MINUTE, HOUR, DAY) and currency, in
-- event time; plus the indexes that keep funnel and topProducts fast at a million events.

-- One row per (size, window_start, currency). The table is also the sales feed, a STATE feed:
-- every change re-stamps (tx_id, seq), so a reader after a cursor finds each changed window once,
-- in its latest state, and only below the oldest in-flight transaction (invariant 5).
CREATE TABLE "sales_windows" (
    "seq" BIGSERIAL NOT NULL,
    "tx_id" BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    "size" TEXT NOT NULL,
    "window_start" TIMESTAMPTZ(3) NOT NULL,
    "currency" TEXT NOT NULL,
    -- Minor units (cents): money is never a float.
    "revenue_minor" BIGINT NOT NULL,
    "orders" BIGINT NOT NULL,
    "units" BIGINT NOT NULL,
    -- 1 when created, +1 for every later batch that changes the window (a late event included).
    "revision" INTEGER NOT NULL DEFAULT 1,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sales_windows_pkey" PRIMARY KEY ("size", "window_start", "currency"),
    CONSTRAINT "sales_windows_size_check" CHECK ("size" IN ('MINUTE', 'HOUR', 'DAY')),
    CONSTRAINT "sales_windows_amounts_check" CHECK ("revenue_minor" >= 0 AND "orders" >= 0 AND "units" >= 0)
);

CREATE UNIQUE INDEX "sales_windows_seq_key" ON "sales_windows"("seq");
CREATE INDEX "sales_windows_tx_id_seq_idx" ON "sales_windows"("tx_id", "seq");

-- The orderIds already counted in each window, so that one order spread over several batches
-- (or several connections) is counted once: only a newly inserted row adds to `orders`.
CREATE TABLE "sales_window_orders" (
    "size" TEXT NOT NULL,
    "window_start" TIMESTAMPTZ(3) NOT NULL,
    "currency" TEXT NOT NULL,
    "order_id" TEXT NOT NULL,

    CONSTRAINT "sales_window_orders_pkey" PRIMARY KEY ("size", "window_start", "currency", "order_id")
);

-- funnel and topProducts: one index-only range scan per activity type over occurred_at.
CREATE INDEX "activity_events_type_occurred_at_idx" ON "activity_events"("type", "occurred_at")
    INCLUDE ("user_id", "product_id", "quantity", "unit_price_minor", "currency");
