// `npm run sales:time-zone -- <IANA zone>`: changes the zone of this database's sales windows.
// Every window is forgotten and the sales processor rewinds to the start of the activity log, so
// the next server started with SHOP_TIME_ZONE=<zone> computes them all again. Stop every server
// first: one still running with the old zone would go on writing windows of the old zone.
import { pino } from 'pino';
import { loadConfig, loadDotEnv } from '../config.js';
import { recomputeSalesWindows } from '../core/sales/time-zone.js';
import { isTimeZone } from '../core/sales/window.js';
import { createDb } from '../db/client.js';
import { applyMigrations } from '../db/migrate.js';
import { runCli } from './help.js';

const USAGE = 'usage: npm run sales:time-zone -- <IANA time zone, e.g. America/New_York>';

const HELP = `
Changes the time zone of this database's sales windows (see SHOP_TIME_ZONE). Every window is
deleted and the sales processor starts again from the beginning of the activity log: the next
server started with SHOP_TIME_ZONE=<zone> computes them all again. Stop every server first.
Works on DATABASE_URL or, when it is unset, on the embedded database under DATA_DIR.

${USAGE}

Options:
  -h, --help   show this help
`;

async function main(argv: string[]): Promise<number> {
  const zone = argv[0];
  if (argv.length !== 1 || !zone) {
    console.error(USAGE);
    return 2;
  }
  if (!isTimeZone(zone)) {
    console.error(`"${zone}" is not an IANA time-zone name (e.g. Europe/Berlin, Asia/Kolkata)`);
    return 2;
  }
  loadDotEnv();
  const config = loadConfig();
  const log = pino({ level: process.env.LOG_LEVEL || 'warn' }, pino.destination(2));
  const db = await createDb(config, log);
  try {
    await applyMigrations(db.pool, { log });
    const { windows } = await recomputeSalesWindows(db.pool, zone);
    console.log(
      `sales windows are now in ${zone}: ${windows} old windows deleted; start the servers with SHOP_TIME_ZONE=${zone} to compute them again from the activity log`,
    );
    return 0;
  } finally {
    await db.close();
  }
}

runCli({ name: 'sales:time-zone', help: HELP, main });
