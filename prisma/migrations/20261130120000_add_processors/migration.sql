-- Log-first processing (issue 13): the event tables are the log, and each stream's processor
-- follows it from a durable checkpoint, writing its derived rows and its new checkpoint in one
-- transaction.

-- The inventory log gets a commit-ordered position like the activity log: (tx_id, seq), read
-- below the oldest in-flight transaction. Rows stored before this migration share its id.
ALTER TABLE "inventory_events"
    ADD COLUMN "tx_id" BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX "inventory_events_tx_id_seq_idx" ON "inventory_events"("tx_id", "seq");

-- Where each processor stands in each log it follows: every event at or before (tx_id, seq) has
-- been applied. Only the process holding the processor's lock writes its rows.
CREATE TABLE "processor_checkpoints" (
    "processor" TEXT NOT NULL,
    "log" TEXT NOT NULL,
    "tx_id" BIGINT NOT NULL DEFAULT 0,
    "seq" BIGINT NOT NULL DEFAULT 0,
    -- Events applied so far (for metrics).
    "events" BIGINT NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "processor_checkpoints_pkey" PRIMARY KEY ("processor", "log")
);

-- A database migrated from the arrival-order core already holds every derived fact of the events
-- stored so far: those processors start at the head of the log. The summaries are new, so they
-- start at the beginning and rebuild from the log.
INSERT INTO "processor_checkpoints" ("processor", "log", "tx_id", "seq")
SELECT p.processor, p.log, coalesce(h.tx_id, 0), coalesce(h.seq, 0)
  FROM (VALUES ('inventory', 'activity'), ('inventory', 'inventory'), ('sales', 'activity'),
               ('recommendations', 'activity')) AS p(processor, log)
  LEFT JOIN LATERAL (
    SELECT tx_id, seq FROM "activity_events" WHERE p.log = 'activity'
    UNION ALL
    SELECT tx_id, seq FROM "inventory_events" WHERE p.log = 'inventory'
    ORDER BY 1 DESC, 2 DESC LIMIT 1) h ON true;

-- Stock in event time: the latest absolute count (by occurred_at, then log position) sets the
-- level as of its time; adjustments and purchases before it are already included in it.
ALTER TABLE "stock_levels"
    ADD COLUMN "counted_at" TIMESTAMPTZ(3),
    ADD COLUMN "counted_tx_id" BIGINT,
    ADD COLUMN "counted_seq" BIGINT;

-- Every change that moved (or would have moved) a product's stock, in event time: counts,
-- adjustments and purchases. A late count is the count plus the movements after it.
CREATE TABLE "stock_movements" (
    "product_id" TEXT NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    -- Log position of the event (tx_id, seq); tx_id alone tells the logs apart.
    "tx_id" BIGINT NOT NULL,
    "seq" BIGINT NOT NULL,
    -- COUNT, ADJUSTMENT or PURCHASE (checked by the database).
    "kind" TEXT NOT NULL,
    -- COUNT: the level counted; ADJUSTMENT: the delta; PURCHASE: minus the units bought.
    "amount" INTEGER NOT NULL,
    "event_id" TEXT NOT NULL,

    CONSTRAINT "stock_movements_pkey" PRIMARY KEY ("product_id", "occurred_at", "tx_id", "seq"),
    CONSTRAINT "stock_movements_kind_check" CHECK ("kind" IN ('COUNT', 'ADJUSTMENT', 'PURCHASE'))
);

-- Activity per product and hour of event time, for topProducts: browses and carts on the row with
-- currency '', units and revenue on the row of the purchase's currency.
CREATE TABLE "product_activity_hourly" (
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "product_id" TEXT NOT NULL,
    "currency" TEXT NOT NULL DEFAULT '',
    "browses" BIGINT NOT NULL DEFAULT 0,
    "carts" BIGINT NOT NULL DEFAULT 0,
    "units" BIGINT NOT NULL DEFAULT 0,
    "revenue_minor" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "product_activity_hourly_pkey" PRIMARY KEY ("hour", "product_id", "currency")
);

-- Shoppers whose list held a product when it ran out: rebuilt again when it is restocked.
CREATE TABLE "recommendation_stock_holds" (
    "product_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,

    CONSTRAINT "recommendation_stock_holds_pkey" PRIMARY KEY ("product_id", "user_id")
);

-- Which lists hold a product (items @> '[{"productId": …}]'), when it runs out.
CREATE INDEX "recommendation_lists_items_idx" ON "recommendation_lists" USING GIN ("items" jsonb_path_ops);
