// `npm run schema:print`: writes schema.graphql from the Pothos schema (checked in; a test fails when stale).
import { writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { schema } from '../schema/index.js';

const path = new URL('../../schema.graphql', import.meta.url);
writeFileSync(path, `${printSchema(schema)}\n`);
process.stdout.write(`wrote ${path.pathname}\n`);
