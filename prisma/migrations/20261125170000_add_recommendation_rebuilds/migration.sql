-- Recommendation lists are rebuilt after the ingest transaction, not inside it: the batch only
-- queues the shoppers it touched here, and a builder in every server process
-- (src/core/recommendations/builder.ts) claims rows with FOR UPDATE SKIP LOCKED, rebuilds those
-- shoppers' lists and deletes the rows in the same transaction. A row left by a crash is built
-- by the next builder to claim it.

-- No unique key: a shopper may be queued many times (builds conflate), and an ingest inserting
-- here never waits on another transaction.
CREATE TABLE "recommendation_rebuilds" (
    "id" BIGSERIAL NOT NULL,
    "user_id" TEXT NOT NULL,
    -- When the shopper was queued: how far behind the builders are.
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "recommendation_rebuilds_pkey" PRIMARY KEY ("id")
);

-- A build also removes the shopper's other queued rows, however far back in the queue they are.
CREATE INDEX "recommendation_rebuilds_user_id_idx" ON "recommendation_rebuilds"("user_id");
