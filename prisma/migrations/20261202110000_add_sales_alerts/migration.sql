-- Sales alerts (issue 17): the sales-alerts processor's state, the observed values of every
-- closed HOUR window (the history later windows are compared with), and the alerts themselves,
-- a STATE feed like sales_windows: a late correction re-stamps (tx_id, seq) and bumps version.

-- One row: how far event time has gone (the watermark) and which hours are closed.
CREATE TABLE "sales_alert_state" (
    "id" BOOLEAN NOT NULL DEFAULT true,
    -- The latest occurredAt of any activity event the processor applied.
    "watermark" TIMESTAMPTZ(3) NOT NULL,
    -- The start of the earliest hour with activity: before it, there is no history.
    "first_hour" TIMESTAMPTZ(3) NOT NULL,
    -- Every HOUR window that ends at or before it has been evaluated.
    "closed_through" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sales_alert_state_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "sales_alert_state_one_row" CHECK ("id")
);

-- Orders and revenue of each closed hour and currency, as evaluated (an hour without sales has no row).
CREATE TABLE "sales_alert_hours" (
    "hour_start" TIMESTAMPTZ(3) NOT NULL,
    "currency" TEXT NOT NULL,
    "orders" BIGINT NOT NULL,
    "revenue_minor" BIGINT NOT NULL,

    CONSTRAINT "sales_alert_hours_pkey" PRIMARY KEY ("hour_start", "currency")
);

-- Units of each product in each closed hour (products without sales have no row).
CREATE TABLE "sales_alert_product_hours" (
    "hour_start" TIMESTAMPTZ(3) NOT NULL,
    "product_id" TEXT NOT NULL,
    "units" BIGINT NOT NULL,

    CONSTRAINT "sales_alert_product_hours_pkey" PRIMARY KEY ("hour_start", "product_id")
);

-- One row per (window, kind, metric, currency, product): a later verdict updates it.
CREATE TABLE "sales_alerts" (
    "id" BIGSERIAL NOT NULL,
    "seq" BIGSERIAL NOT NULL,
    "tx_id" BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    "window_start" TIMESTAMPTZ(3) NOT NULL,
    "window_end" TIMESTAMPTZ(3) NOT NULL,
    "local_start" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "metric" TEXT NOT NULL,
    -- '' for UNITS (all currencies).
    "currency" TEXT NOT NULL DEFAULT '',
    -- '' for ORDERS and REVENUE (the whole shop).
    "product_id" TEXT NOT NULL DEFAULT '',
    "status" TEXT NOT NULL,
    -- Counts, or minor units for REVENUE; expected may be a half (a median of an even number).
    "expected" NUMERIC NOT NULL,
    "observed" NUMERIC NOT NULL,
    "score" DOUBLE PRECISION NOT NULL,
    "baseline" TEXT NOT NULL,
    "samples" INTEGER NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "raised_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sales_alerts_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "sales_alerts_kind_check" CHECK ("kind" IN ('SALES_DROP', 'SALES_SPIKE')),
    CONSTRAINT "sales_alerts_metric_check" CHECK ("metric" IN ('ORDERS', 'REVENUE', 'UNITS')),
    CONSTRAINT "sales_alerts_status_check" CHECK ("status" IN ('RAISED', 'CLEARED'))
);

CREATE UNIQUE INDEX "sales_alerts_seq_key" ON "sales_alerts"("seq");
CREATE UNIQUE INDEX "sales_alerts_window_start_kind_metric_currency_product_id_key"
    ON "sales_alerts"("window_start", "kind", "metric", "currency", "product_id");
CREATE INDEX "sales_alerts_tx_id_seq_idx" ON "sales_alerts"("tx_id", "seq");

-- Pruning of delivered webhook deliveries (WEBHOOK_DELIVERY_RETENTION_HOURS): oldest first.
CREATE INDEX "webhook_deliveries_delivered_at_idx" ON "webhook_deliveries"("delivered_at") WHERE "status" = 'DELIVERED';
