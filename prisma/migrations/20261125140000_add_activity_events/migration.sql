-- User activity: raw events, which are also the activity feed, and the dead-letter table.

CREATE TABLE "activity_events" (
    "seq" BIGSERIAL NOT NULL,
    -- Writing transaction's id: feed readers stay below the oldest in-flight one (invariant 5).
    "tx_id" BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    "event_id" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "product_id" TEXT NOT NULL,
    "quantity" INTEGER NOT NULL,
    "unit_price_minor" BIGINT,
    "currency" TEXT,
    "order_id" TEXT,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "activity_events_pkey" PRIMARY KEY ("seq"),
    CONSTRAINT "activity_events_type_check"
        CHECK ("type" IN ('BROWSE', 'ADD_TO_CART', 'REMOVE_FROM_CART', 'PURCHASE')),
    CONSTRAINT "activity_events_quantity_check" CHECK ("quantity" > 0),
    CONSTRAINT "activity_events_unit_price_minor_check" CHECK ("unit_price_minor" >= 0)
);

CREATE UNIQUE INDEX "activity_events_event_id_key" ON "activity_events"("event_id");
CREATE INDEX "activity_events_tx_id_seq_idx" ON "activity_events"("tx_id", "seq");
CREATE INDEX "activity_events_user_id_tx_id_seq_idx" ON "activity_events"("user_id", "tx_id", "seq");
CREATE INDEX "activity_events_occurred_at_idx" ON "activity_events"("occurred_at");

CREATE TABLE "dead_letters" (
    "id" BIGSERIAL NOT NULL,
    "stream" TEXT NOT NULL,
    "event_id" TEXT,
    "batch_index" INTEGER NOT NULL,
    "code" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "dead_letters_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "dead_letters_received_at_idx" ON "dead_letters"("received_at");
