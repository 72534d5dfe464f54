-- Inventory: stock levels, raw inventory events, and the stock-warning feed.

CREATE TABLE "stock_levels" (
    "product_id" TEXT NOT NULL,
    -- NULL: no level was ever set (a purchase then changes nothing and raises nothing).
    "quantity" INTEGER,
    -- NULL: the product uses LOW_STOCK_THRESHOLD.
    "threshold" INTEGER,
    -- Feed position (tx_id) of the product's last warning: the next one is never placed before it.
    "last_warning_tx_id" BIGINT,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stock_levels_pkey" PRIMARY KEY ("product_id"),
    CONSTRAINT "stock_levels_threshold_check" CHECK ("threshold" >= 0)
);

-- Raw events. For one product, seq order is the order they were applied in: a batch locks its
-- products' stock rows before it stores its events.
CREATE TABLE "inventory_events" (
    "seq" BIGSERIAL NOT NULL,
    "event_id" TEXT NOT NULL,
    "product_id" TEXT NOT NULL,
    "quantity" INTEGER,
    "delta" INTEGER,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "inventory_events_pkey" PRIMARY KEY ("seq"),
    CONSTRAINT "inventory_events_one_of_check" CHECK (("quantity" IS NULL) <> ("delta" IS NULL)),
    CONSTRAINT "inventory_events_quantity_check" CHECK ("quantity" >= 0)
);

CREATE UNIQUE INDEX "inventory_events_event_id_key" ON "inventory_events"("event_id");
CREATE INDEX "inventory_events_product_id_seq_idx" ON "inventory_events"("product_id", "seq");

-- The stock-warning feed (invariant 5): ordered by (tx_id, seq), read below the oldest
-- in-flight transaction. tx_id is written explicitly under the stock row locks (see stock.ts).
CREATE TABLE "stock_warnings" (
    "seq" BIGSERIAL NOT NULL,
    "tx_id" BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    "product_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "quantity" INTEGER NOT NULL,
    "threshold" INTEGER NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "stock_warnings_pkey" PRIMARY KEY ("seq"),
    CONSTRAINT "stock_warnings_kind_check" CHECK ("kind" IN ('LOW_STOCK', 'OUT_OF_STOCK', 'RESTOCKED'))
);

CREATE INDEX "stock_warnings_tx_id_seq_idx" ON "stock_warnings"("tx_id", "seq");
CREATE INDEX "stock_warnings_product_id_tx_id_seq_idx" ON "stock_warnings"("product_id", "tx_id", "seq");
