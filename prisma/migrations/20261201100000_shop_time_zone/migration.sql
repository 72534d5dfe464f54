-- Sales windows on the shop's own clock (SHOP_TIME_ZONE, issue 16). A window keeps the end and the
-- local start it was computed with, as a DAY may last 23 or 25 hours. Windows stored before are
-- UTC windows and say so.
ALTER TABLE "sales_windows" ADD COLUMN "window_end" TIMESTAMPTZ(3), ADD COLUMN "local_start" TEXT;
UPDATE "sales_windows"
   SET "window_end" = "window_start" + CASE "size" WHEN 'MINUTE' THEN interval '1 minute'
                                                   WHEN 'HOUR' THEN interval '1 hour'
                                                   ELSE interval '1 day' END,
       "local_start" = to_char("window_start" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00';
ALTER TABLE "sales_windows" ALTER COLUMN "window_end" SET NOT NULL, ALTER COLUMN "local_start" SET NOT NULL;

-- The zone the stored windows were computed in: one row, written by the first start-up (or here,
-- for a database that already has UTC windows). A start with another zone is refused while
-- windows exist (src/core/sales/time-zone.ts).
CREATE TABLE "shop_time_zone" (
    "id"          BOOLEAN NOT NULL DEFAULT true,
    "time_zone"   TEXT NOT NULL,
    "recorded_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "shop_time_zone_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "shop_time_zone_one_row" CHECK ("id")
);
INSERT INTO "shop_time_zone" ("time_zone") SELECT 'UTC' WHERE EXISTS (SELECT 1 FROM "sales_windows");
