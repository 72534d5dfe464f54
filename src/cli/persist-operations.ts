// `npm run operations:persist -- <folder> [--out file]`: the allowlist PERSISTED_OPERATIONS_FILE
// reads, from a folder of .graphql files (one document each), every document checked against the
// schema first, so a front end's stale operation fails here and not in production.
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { checkDocument, hashDocument } from '../http/persisted-operations.js';
import { schema } from '../schema/index.js';
import { runCli } from './help.js';

const HELP = `
Usage: npm run operations:persist -- <folder> [--out <file>]

Builds the persisted-operations allowlist (PERSISTED_OPERATIONS_FILE) from the .graphql files in
<folder> and its subfolders: one document per file (an operation and its fragments), kept as
written. The key of each is the SHA-256 (hex) of the file's text, which is what a client sends as
extensions.persistedQuery.sha256Hash. Every document is validated against this server's schema
first; any error stops with the file and the reason, and nothing is written.

Prints "<sha256>  <file>" for each document.

Options:
  --out <file>   write the JSON allowlist there (default: print it on stdout)
  -h, --help     show this help
`;

async function graphqlFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.graphql'))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { out: { type: 'string' } },
    allowPositionals: true,
  });
  const [folder, ...extra] = positionals;
  if (!folder || extra.length > 0) throw new Error('give one folder of .graphql files (see --help)');
  const files = await graphqlFiles(folder).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`cannot read the folder ${folder} (${error.code ?? error.message})`);
  });
  if (files.length === 0) throw new Error(`no .graphql file in ${folder}`);
  const list: Record<string, string> = {};
  const report: string[] = [];
  for (const file of files) {
    const document = await fs.readFile(file, 'utf8');
    const problem = checkDocument(document, schema);
    if (problem) throw new Error(`${file} does not run on this schema: ${problem}`);
    const hash = hashDocument(document);
    list[hash] = document;
    report.push(`${hash}  ${path.relative(folder, file)}`);
  }
  const json = `${JSON.stringify(list, null, 2)}\n`;
  if (values.out) {
    await fs.writeFile(values.out, json);
    process.stdout.write(`${report.join('\n')}\nwrote ${Object.keys(list).length} operation(s) to ${values.out}\n`);
  } else {
    process.stderr.write(`${report.join('\n')}\n`);
    process.stdout.write(json);
  }
  return 0;
}

runCli({ name: 'operations:persist', help: HELP, main });
