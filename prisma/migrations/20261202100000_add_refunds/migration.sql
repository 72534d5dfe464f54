-- Refunds and returns (issue 16): the refunds log, refunds in the sales windows, returns in the
-- stock movements.

-- The refunds log, read by the sales and inventory processors in (tx_id, seq) order below the
-- log horizon, like the other logs. Each row refunds part or all of one order line: the
-- purchases with this order_id and product_id (activity_events).
CREATE TABLE "refund_events" (
    "seq" BIGSERIAL NOT NULL,
    "tx_id" BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    "event_id" TEXT NOT NULL,
    "order_id" TEXT NOT NULL,
    "product_id" TEXT NOT NULL,
    -- Units refunded (0: money only, e.g. a price adjustment).
    "quantity" INTEGER NOT NULL,
    -- Money refunded, in the currency's minor units: never a float.
    "amount_minor" BIGINT NOT NULL,
    "currency" TEXT NOT NULL,
    -- The units go back to stock (a return).
    "restock" BOOLEAN NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "refund_events_pkey" PRIMARY KEY ("seq"),
    CONSTRAINT "refund_events_amounts_check" CHECK ("quantity" >= 0 AND "amount_minor" >= 0)
);

CREATE UNIQUE INDEX "refund_events_event_id_key" ON "refund_events"("event_id");
CREATE INDEX "refund_events_tx_id_seq_idx" ON "refund_events"("tx_id", "seq");
-- What was already refunded of an order line, read under the line's lock by each refund batch.
CREATE INDEX "refund_events_order_id_product_id_idx" ON "refund_events"("order_id", "product_id");

-- What was sold on an order line: the purchases with that order_id and product_id.
CREATE INDEX "activity_events_order_line_idx" ON "activity_events"("order_id", "product_id")
    INCLUDE ("quantity", "unit_price_minor", "currency")
    WHERE "type" = 'PURCHASE' AND "order_id" IS NOT NULL;

-- Refunds in the window of their own event time. The existing columns keep their meaning (sales
-- only); net revenue is revenue_minor - refund_minor.
ALTER TABLE "sales_windows"
    ADD COLUMN "refunds" BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN "refund_units" BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN "refund_minor" BIGINT NOT NULL DEFAULT 0,
    ADD CONSTRAINT "sales_windows_refunds_check" CHECK ("refunds" >= 0 AND "refund_units" >= 0 AND "refund_minor" >= 0);

-- Restocked units of a refund move stock as a RETURN.
ALTER TABLE "stock_movements" DROP CONSTRAINT "stock_movements_kind_check",
    ADD CONSTRAINT "stock_movements_kind_check" CHECK ("kind" IN ('COUNT', 'ADJUSTMENT', 'PURCHASE', 'RETURN'));
