-- Recommendations: what each shopper did per product, how often products go together, what is
-- popular per hour, and each shopper's current list (a state feed).

-- One row per (shopper, product) the shopper browsed, carted or bought. Written only under the
-- shopper's advisory lock (src/core/recommendations/processor.ts), so reads of it are exact.
CREATE TABLE "user_product_signals" (
    "user_id" TEXT NOT NULL,
    "product_id" TEXT NOT NULL,
    -- The strongest action so far, by the configured weights (REC_WEIGHT_*).
    "weight" DOUBLE PRECISION NOT NULL,
    -- Event time of the latest action: "recent" means this.
    "last_at" TIMESTAMPTZ(3) NOT NULL,
    -- Carted or bought: the product takes part in "often bought with" pairs.
    "carted" BOOLEAN NOT NULL DEFAULT false,
    -- Bought: never recommended to this shopper again.
    "purchased" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "user_product_signals_pkey" PRIMARY KEY ("user_id", "product_id")
);

-- The shopper's N most recent products, however long the history, in exactly the order the
-- queries ask for (ties by product id in code-unit order, as in TypeScript), so a read stops
-- after N rows. Prisma cannot express COLLATE in an index; schema.prisma lists the columns.
CREATE INDEX "user_product_signals_user_id_last_at_idx"
    ON "user_product_signals"("user_id", "last_at" DESC, "product_id" COLLATE "C");
-- The shopper's N most recent carted products, without walking past a long browsing history.
CREATE INDEX "user_product_signals_user_id_carted_last_at_idx"
    ON "user_product_signals"("user_id", "carted", "last_at" DESC, "product_id" COLLATE "C");

-- How strongly product_b goes with product_a; stored in both directions, so a lookup is one range.
CREATE TABLE "product_pairs" (
    "product_a" TEXT NOT NULL,
    "product_b" TEXT NOT NULL,
    -- bought: both carted or bought by one shopper; viewed: both looked at by one shopper.
    "kind" TEXT NOT NULL,
    -- Shoppers who did both: 1 per shopper within a session, 0.5 across their history.
    "score" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "product_pairs_pkey" PRIMARY KEY ("product_a", "kind", "product_b"),
    CONSTRAINT "product_pairs_kind_check" CHECK ("kind" IN ('bought', 'viewed'))
);

-- A product's K strongest partners, in the order the list query reads them: K rows, even among ties.
CREATE INDEX "product_pairs_product_a_score_idx"
    ON "product_pairs"("product_a", "score" DESC, "product_b" COLLATE "C", "kind");

-- Weighted actions per product and hour of event time: "Popular right now" sums recent buckets.
CREATE TABLE "product_popularity" (
    "product_id" TEXT NOT NULL,
    "bucket_start" TIMESTAMPTZ(3) NOT NULL,
    "score" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "product_popularity_pkey" PRIMARY KEY ("product_id", "bucket_start")
);

CREATE INDEX "product_popularity_bucket_start_idx" ON "product_popularity"("bucket_start");

-- Each shopper's current list: the recommendations feed, a STATE feed. (tx_id, seq) is re-stamped
-- only when the list changes, so an unchanged list is never sent again.
CREATE TABLE "recommendation_lists" (
    "user_id" TEXT NOT NULL,
    "items" JSONB NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "seq" BIGSERIAL NOT NULL,
    "tx_id" BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),

    CONSTRAINT "recommendation_lists_pkey" PRIMARY KEY ("user_id")
);

CREATE UNIQUE INDEX "recommendation_lists_seq_key" ON "recommendation_lists"("seq");
CREATE INDEX "recommendation_lists_tx_id_seq_idx" ON "recommendation_lists"("tx_id", "seq");
