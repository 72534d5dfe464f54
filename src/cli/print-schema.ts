// `npm run schema:print`: writes schema.graphql from the Pothos schema (checked in; a test fails when stale).
import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { schema } from '../schema/index.js';
import { printHelpIfAsked } from './help.js';

printHelpIfAsked(`
Usage: npm run schema:print

Writes schema.graphql (checked in) from the code-first schema in src/schema/. Run it after
changing the schema; test/schema.test.ts fails while the file is stale.

Options:
  -h, --help   show this help
`);

const path = new URL('../../schema.graphql', import.meta.url);
writeFileSync(path, `${printSchema(schema)}\n`);
process.stdout.write(`wrote ${path.pathname}\n`);
