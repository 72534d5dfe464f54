-- Partners per product and kind as one bounded summary row (Space-Saving, see
-- src/core/recommendations/partners.ts) instead of one row per pair: a batch rewrites each
-- touched product once, and a list build reads one row per recent product.
CREATE TABLE "product_partners" (
    "product_id" TEXT NOT NULL,
    -- bought: both carted or bought by one shopper; viewed: both looked at by one shopper.
    "kind" TEXT NOT NULL,
    -- JSON text, [[productId, score], ...] strongest first (ties: smaller id first). Text, not
    -- jsonb: the database never looks inside, and jsonb costs seven times as much to write.
    "partners" TEXT NOT NULL,

    CONSTRAINT "product_partners_pkey" PRIMARY KEY ("product_id", "kind"),
    CONSTRAINT "product_partners_kind_check" CHECK ("kind" IN ('bought', 'viewed'))
);

-- The pairs learned so far become summaries of the default capacity (64 partners): each
-- product's strongest, with their exact scores.
INSERT INTO "product_partners" ("product_id", "kind", "partners")
SELECT "product_a", "kind",
       json_agg(json_build_array("product_b", "score") ORDER BY "score" DESC, "product_b" COLLATE "C")::text
  FROM (
    SELECT *, row_number() OVER (
             PARTITION BY "product_a", "kind" ORDER BY "score" DESC, "product_b" COLLATE "C") AS "rank"
      FROM "product_pairs"
  ) "ranked"
 WHERE "rank" <= 64
 GROUP BY "product_a", "kind";

DROP TABLE "product_pairs";
