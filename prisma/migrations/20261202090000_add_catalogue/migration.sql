-- The catalogue (issue 16): recordProducts appends catalogue entries to a log; the catalogue
-- processor keeps one row per product with the entry latest in event time.

-- The catalogue log: ordered by (tx_id, seq) like the other logs, read below the oldest in-flight
-- transaction. An entry is the whole product: a later one replaces every field.
CREATE TABLE "product_events" (
    "seq" BIGSERIAL NOT NULL,
    "tx_id" BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    "event_id" TEXT NOT NULL,
    "product_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "category" TEXT NOT NULL,
    -- The list price in minor units of "currency"; both NULL when the entry has none.
    "list_price_minor" BIGINT,
    "currency" TEXT,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "product_events_pkey" PRIMARY KEY ("seq"),
    CONSTRAINT "product_events_price_check" CHECK (("list_price_minor" IS NULL) = ("currency" IS NULL))
);

CREATE UNIQUE INDEX "product_events_event_id_key" ON "product_events"("event_id");
CREATE INDEX "product_events_tx_id_seq_idx" ON "product_events"("tx_id", "seq");

-- Each product as its latest entry says (by occurred_at, then log position): an older entry that
-- arrives late does not replace it.
CREATE TABLE "products" (
    "product_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "category" TEXT NOT NULL,
    "list_price_minor" BIGINT,
    "currency" TEXT,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "tx_id" BIGINT NOT NULL,
    "seq" BIGINT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "products_pkey" PRIMARY KEY ("product_id")
);

-- Category filters (stockLevels, topProducts, recommendations, sales by category) look products up by category.
CREATE INDEX "products_category_product_id_idx" ON "products"("category", "product_id");
