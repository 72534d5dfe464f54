// `npm run keys -- create --name <name> --role integration|admin` prints a new API key once;
// `keys list` shows names, roles and states (never keys); `keys revoke <name>`. Works on
// DATABASE_URL or, when it is unset, on the embedded database under DATA_DIR (stop the server
// first there: one process at a time may open the embedded data).
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import {
  API_KEY_ROLES,
  ApiKeyError,
  type ApiKeyRole,
  createApiKey,
  listApiKeys,
  revokeApiKey,
} from '../auth/api-keys.js';
import { loadConfig, loadDotEnv } from '../config.js';
import { createDb } from '../db/client.js';
import { applyMigrations } from '../db/migrate.js';
import { runCli } from './help.js';

const USAGE = `usage:
  npm run keys -- create --name <name> --role ${API_KEY_ROLES.join('|')}
  npm run keys -- list
  npm run keys -- revoke <name>`;

const HELP = `
Manages API keys: the credentials of integrations (role integration) and operators (role admin).
A key is shown once, when it is created; only its hash is stored. Works on DATABASE_URL or, when
it is unset, on the embedded database under DATA_DIR (stop the server first there).

${USAGE}

Commands:
  create --name <name> --role <role>   create a key and print it once (roles: ${API_KEY_ROLES.join(', ')})
  list                                 names, roles and states (never the keys)
  revoke <name>                        the key stops working at once; its open sockets are closed

Options:
  -h, --help                           show this help
`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { name: { type: 'string' }, role: { type: 'string' } },
  });
  const [command, ...rest] = positionals;
  if (!command || !['create', 'list', 'revoke'].includes(command)) {
    console.error(USAGE);
    return 2;
  }
  loadDotEnv();
  const config = loadConfig();
  const log = pino({ level: process.env.LOG_LEVEL || 'warn' }, pino.destination(2));
  const db = await createDb(config, log);
  try {
    await applyMigrations(db.pool, { log });
    if (command === 'create') {
      if (!values.name || !values.role) {
        console.error(USAGE);
        return 2;
      }
      const { key, info } = await createApiKey(db.prisma, values.name, values.role as ApiKeyRole);
      console.log(`created ${info.role} key "${info.name}". It is shown only this once:\n${key}`);
    } else if (command === 'list') {
      const keys = await listApiKeys(db.prisma);
      if (keys.length === 0) console.log('no keys (the server runs in open development mode unless JWT_SECRET is set)');
      for (const key of keys) {
        const state = key.revokedAt ? `revoked ${key.revokedAt.toISOString()}` : 'active';
        console.log(`${key.name}\t${key.role}\tcreated ${key.createdAt.toISOString()}\t${state}`);
      }
    } else {
      const name = rest[0] ?? values.name;
      if (!name) {
        console.error(USAGE);
        return 2;
      }
      if (!(await revokeApiKey(db.prisma, name))) {
        console.error(`no active key named "${name}"`);
        return 1;
      }
      console.log(`revoked "${name}": it stops working at once, and sockets opened with it are closed`);
    }
    return 0;
  } catch (error) {
    if (error instanceof ApiKeyError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  } finally {
    await db.close();
  }
}

runCli({ name: 'keys', help: HELP, main });
