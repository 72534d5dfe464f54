// The zone of the stored sales windows is fixed per database: HOUR and DAY windows of two zones
// cannot be added up, so a start-up with another SHOP_TIME_ZONE than the windows were computed in
// is refused (claimShopTimeZone), and changing it means computing them again from the activity log
// (recomputeSalesWindows, `npm run sales:time-zone`).
import type pg from 'pg';
import { CoreError } from '../errors.js';
import { isTimeZone } from './window.js';

/** SHOP_TIME_ZONE differs from the zone this database's sales windows were computed in. */
export class TimeZoneMismatch extends CoreError {
  constructor(configured: string, stored: string) {
    super(
      'TIME_ZONE_MISMATCH',
      `SHOP_TIME_ZONE is "${configured}" but this database's sales windows were computed in "${stored}": ` +
        `set SHOP_TIME_ZONE=${stored}, or stop every server and run \`npm run sales:time-zone -- ${configured}\` ` +
        'to compute them again in the new zone',
      { configured, stored },
    );
  }
}

/**
 * Records `zone` as the database's zone if none is recorded yet, or if no sales window exists yet
 * (nothing to mix); otherwise refuses another zone than the recorded one. Returns the zone.
 */
export async function claimShopTimeZone(pool: pg.Pool, zone: string): Promise<string> {
  const { rows } = await pool.query<{ time_zone: string }>(
    `WITH claimed AS (
       INSERT INTO shop_time_zone (time_zone) VALUES ($1) ON CONFLICT (id) DO NOTHING RETURNING time_zone
     )
     SELECT time_zone FROM claimed UNION ALL SELECT time_zone FROM shop_time_zone LIMIT 1`,
    [zone],
  );
  const stored = rows[0]?.time_zone ?? zone;
  if (stored === zone) return zone;
  // Only while no window exists (checked in the same statement) may the recorded zone change.
  const { rowCount } = await pool.query(
    `UPDATE shop_time_zone SET time_zone = $1, recorded_at = now()
      WHERE NOT EXISTS (SELECT 1 FROM sales_windows)`,
    [zone],
  );
  if (rowCount === 0) throw new TimeZoneMismatch(zone, stored);
  return zone;
}

/**
 * Forgets every sales window (and sales alert) and rewinds the sales (and sales-alerts) processor
 * to the start of the activity log, in one transaction, and records `zone`: the next server
 * started with SHOP_TIME_ZONE=zone computes every window again from the log. Waits for a batch in
 * progress (the processors' own locks).
 */
export async function recomputeSalesWindows(pool: pg.Pool, zone: string): Promise<{ windows: number }> {
  if (!isTimeZone(zone)) throw new RangeError(`unknown time zone "${zone}"`);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('processor:' || 'sales', 0))`);
    const { rowCount } = await client.query('DELETE FROM sales_windows');
    await client.query('DELETE FROM sales_window_orders');
    // The sales alerts judged hours of the old zone's clock: judged again from the log too.
    await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('processor:' || 'sales-alerts', 0))`);
    await client.query(
      'DELETE FROM sales_alerts; DELETE FROM sales_alert_hours; DELETE FROM sales_alert_product_hours; DELETE FROM sales_alert_state',
    );
    await client.query(
      `UPDATE processor_checkpoints SET tx_id = 0, seq = 0, events = 0, updated_at = now()
        WHERE processor IN ('sales', 'sales-alerts')`,
    );
    await client.query(
      `INSERT INTO shop_time_zone (time_zone) VALUES ($1)
       ON CONFLICT (id) DO UPDATE SET time_zone = EXCLUDED.time_zone, recorded_at = now()`,
      [zone],
    );
    await client.query('COMMIT');
    return { windows: rowCount ?? 0 };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
