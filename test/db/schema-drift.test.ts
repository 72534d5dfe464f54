// The migrated database and prisma/schema.prisma must agree, since `prisma migrate diff` cannot run
// here (PRISMA-OFFLINE.md): every model's table, every scalar field's column with its type and
// nullability, and no table or column the schema does not know. Types follow Prisma's own mapping:
// a field's native type (@db.Timestamptz(3)) when it has one, else Prisma's default for PostgreSQL
// (a plain DateTime is timestamp(3) WITHOUT time zone, which is why ours say @db.Timestamptz).
// @prisma/internals (getDMMF) is not installed and the generated client's data model has no
// nullability, so the schema file itself is parsed: Prisma's syntax for models is line-based.
import fs from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const SCHEMA_FILE = new URL('../../prisma/schema.prisma', import.meta.url);
const GENERATED_CLIENT = new URL('../../src/db/generated/prisma/internal/class.ts', import.meta.url);

type Field = {
  name: string;
  column: string;
  type: string;
  optional: boolean;
  list: boolean;
  /** `@db.Timestamptz(3)` → { name: 'Timestamptz', args: ['3'] } */
  native: { name: string; args: string[] } | undefined;
};
type Model = { name: string; table: string; fields: Field[] };
type PrismaSchema = { models: Model[]; enums: Map<string, string> };

type Column = { table: string; column: string; type: string; typname: string; nullable: boolean };

const SCALARS = new Set(['String', 'Boolean', 'Int', 'BigInt', 'Float', 'Decimal', 'DateTime', 'Json', 'Bytes']);

/** Parses the models and enums of a Prisma schema (comments, relations and @ignore skipped). */
function parsePrismaSchema(text: string): PrismaSchema {
  const blocks: Array<{ kind: string; name: string; lines: string[] }> = [];
  let current: (typeof blocks)[number] | undefined;
  for (const raw of text.split('\n')) {
    const line = stripComment(raw).trim();
    if (!line) continue;
    const opening = /^(model|enum|view|type|generator|datasource)\s+(\w+)\s*\{$/.exec(line);
    if (opening) {
      current = { kind: opening[1]!, name: opening[2]!, lines: [] };
      blocks.push(current);
    } else if (line === '}') {
      current = undefined;
    } else {
      current?.lines.push(line);
    }
  }
  const enums = new Map<string, string>();
  for (const block of blocks.filter((b) => b.kind === 'enum')) {
    enums.set(block.name, mapped(block.lines.join(' '), '@@map') ?? block.name);
  }
  const modelNames = new Set(blocks.filter((b) => b.kind === 'model').map((b) => b.name));
  const models: Model[] = [];
  for (const block of blocks.filter((b) => b.kind === 'model')) {
    const attributes = block.lines.filter((l) => l.startsWith('@@')).join(' ');
    if (/@@ignore\b/.test(attributes)) continue;
    const fields: Field[] = [];
    for (const line of block.lines.filter((l) => !l.startsWith('@@'))) {
      const match = /^(\w+)\s+(\w+(?:\("[^"]*"\))?)(\[\])?(\?)?\s*(.*)$/.exec(line);
      if (!match) throw new Error(`schema.prisma, model ${block.name}: cannot read "${line}"`);
      const [, name, type, list, optional, rest] = match as unknown as string[];
      if (modelNames.has(type!) || /@ignore\b/.test(rest!)) continue; // relation or ignored
      const native = /@db\.(\w+)(?:\(([^)]*)\))?/.exec(rest!);
      fields.push({
        name: name!,
        column: mapped(rest!, '@map') ?? name!,
        type: type!,
        list: Boolean(list),
        optional: Boolean(optional),
        native: native
          ? {
              name: native[1]!,
              args: native[2] ? native[2].split(',').map((a) => a.trim()) : [],
            }
          : undefined,
      });
    }
    models.push({ name: block.name, table: mapped(attributes, '@@map') ?? block.name, fields });
  }
  return { models, enums };
}

function stripComment(line: string): string {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '"' && line[i - 1] !== '\\') inString = !inString;
    if (!inString && line[i] === '/' && line[i + 1] === '/') return line.slice(0, i);
  }
  return line;
}

function mapped(text: string, attribute: '@map' | '@@map'): string | undefined {
  const pattern = attribute === '@map' ? /(?<!@)@map\(\s*(?:name:\s*)?"([^"]*)"/ : /@@map\(\s*(?:name:\s*)?"([^"]*)"/;
  return pattern.exec(text)?.[1];
}

/**
 * The column type PostgreSQL's format_type() prints for a field, as Prisma Migrate would create
 * it; undefined when not checkable (Unsupported(...)).
 */
function expectedType(field: Field, enums: Map<string, string>): string | undefined {
  const base = baseType(field, enums);
  return base === undefined ? undefined : `${base}${field.list ? '[]' : ''}`;
}

function baseType(field: Field, enums: Map<string, string>): string | undefined {
  if (enums.has(field.type)) return enums.get(field.type);
  if (field.type.startsWith('Unsupported(')) return undefined;
  if (!SCALARS.has(field.type)) throw new Error(`unknown type ${field.type} of ${field.name}`);
  const native = field.native;
  if (!native) {
    return {
      String: 'text',
      Boolean: 'boolean',
      Int: 'integer',
      BigInt: 'bigint',
      Float: 'double precision',
      Decimal: 'numeric(65,30)',
      DateTime: 'timestamp(3) without time zone',
      Json: 'jsonb',
      Bytes: 'bytea',
    }[field.type];
  }
  const precision = (fallback: string) => (native.args.length > 0 ? `(${native.args.join(',')})` : fallback);
  switch (native.name) {
    case 'Text':
      return 'text';
    case 'VarChar':
      return `character varying${precision('')}`;
    case 'Char':
      return `character${precision('(1)')}`;
    case 'Uuid':
      return 'uuid';
    case 'Integer':
      return 'integer';
    case 'SmallInt':
      return 'smallint';
    case 'BigInt':
      return 'bigint';
    case 'DoublePrecision':
      return 'double precision';
    case 'Real':
      return 'real';
    case 'Decimal':
      return `numeric${precision('')}`;
    case 'Timestamptz':
      return `timestamp${precision('')} with time zone`;
    case 'Timestamp':
      return `timestamp${precision('')} without time zone`;
    case 'Timetz':
      return `time${precision('')} with time zone`;
    case 'Time':
      return `time${precision('')} without time zone`;
    case 'Date':
      return 'date';
    case 'JsonB':
      return 'jsonb';
    case 'Json':
      return 'json';
    case 'ByteA':
      return 'bytea';
    case 'Boolean':
      return 'boolean';
    default:
      // Others (Inet, Citext, Xml, Money, Bit…) print as their lower-cased name.
      return `${native.name.toLowerCase()}${precision('')}`;
  }
}

async function readColumns(url: string): Promise<Column[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<Column>(
      `SELECT c.relname AS table, a.attname AS column,
              format_type(a.atttypid, a.atttypmod) AS type, t.typname AS typname,
              NOT a.attnotnull AS nullable
         FROM pg_class c
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         JOIN pg_type t ON t.oid = a.atttypid
        WHERE c.relnamespace = to_regnamespace(current_schema())
          AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        ORDER BY c.relname, a.attnum`,
    );
    return rows;
  } finally {
    await client.end();
  }
}

/** Every disagreement between the schema and the database, each naming its table and column. */
function compareSchema(schema: PrismaSchema, columns: Column[]): string[] {
  const problems: string[] = [];
  const byTable = new Map<string, Map<string, Column>>();
  for (const column of columns) {
    if (!byTable.has(column.table)) byTable.set(column.table, new Map());
    byTable.get(column.table)!.set(column.column, column);
  }
  const enumTypes = new Set(schema.enums.values());
  for (const model of schema.models) {
    const table = byTable.get(model.table);
    if (!table) {
      problems.push(`table ${model.table} (model ${model.name}) does not exist in the database`);
      continue;
    }
    const known = new Set<string>();
    for (const field of model.fields) {
      known.add(field.column);
      const where = `${model.table}.${field.column} (${model.name}.${field.name})`;
      const column = table.get(field.column);
      if (!column) {
        problems.push(`column ${where} does not exist in the database`);
        continue;
      }
      const expected = expectedType(field, schema.enums);
      const actual = enumTypes.has(column.typname) ? column.typname : column.type;
      if (expected !== undefined && actual !== expected) {
        problems.push(`column ${where} is ${actual} in the database, the schema says ${expected}`);
      }
      // Prisma creates scalar lists without NOT NULL and cannot mark them optional: not compared.
      if (!field.list && column.nullable !== field.optional) {
        problems.push(
          `column ${where} is ${column.nullable ? 'nullable' : 'NOT NULL'} in the database, ` +
            `the schema says ${field.optional ? 'optional (?)' : 'required'}`,
        );
      }
    }
    for (const column of table.keys()) {
      if (!known.has(column)) {
        problems.push(`column ${model.table}.${column} is not a field of model ${model.name}`);
      }
    }
  }
  const mappedTables = new Set(schema.models.map((m) => m.table));
  for (const table of byTable.keys()) {
    if (table !== '_prisma_migrations' && !mappedTables.has(table)) {
      problems.push(`table ${table} is not a model in schema.prisma`);
    }
  }
  return problems;
}

describe('schema.prisma and the migrations', () => {
  let database: TestDatabase;
  let schema: PrismaSchema;

  beforeAll(async () => {
    database = await createTestDatabase();
    schema = parsePrismaSchema(await fs.readFile(SCHEMA_FILE, 'utf8'));
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('describe the same tables, columns, types and nullability', async () => {
    expect(schema.models.length).toBeGreaterThan(0);
    const problems = compareSchema(schema, await readColumns(database.url));
    expect(problems, `schema.prisma and prisma/migrations disagree:\n${problems.join('\n')}`).toEqual([]);
  });

  it('the check names the table and column of each disagreement', async () => {
    const copy = await createTestDatabase();
    try {
      const client = new pg.Client({ connectionString: copy.url });
      await client.connect();
      try {
        await client.query(`
          ALTER TABLE activity_events DROP COLUMN currency;
          ALTER TABLE activity_events ALTER COLUMN order_id SET NOT NULL;
          ALTER TABLE activity_events ALTER COLUMN quantity TYPE bigint;
          ALTER TABLE activity_events ADD COLUMN surprise text;
          ALTER TABLE dead_letters ALTER COLUMN received_at TYPE timestamp(3);
          CREATE TABLE stray (id int);`);
      } finally {
        await client.end();
      }
      const problems = compareSchema(schema, await readColumns(copy.url));
      expect(problems.sort()).toEqual(
        [
          'column activity_events.currency (ActivityEvent.currency) does not exist in the database',
          'column activity_events.order_id (ActivityEvent.orderId) is NOT NULL in the database, the schema says optional (?)',
          'column activity_events.quantity (ActivityEvent.quantity) is bigint in the database, the schema says integer',
          'column activity_events.surprise is not a field of model ActivityEvent',
          'column dead_letters.received_at (DeadLetter.receivedAt) is timestamp(3) without time zone in the database, the schema says timestamp(3) with time zone',
          'table stray is not a model in schema.prisma',
        ].sort(),
      );
      const missing = compareSchema(
        { ...schema, models: [...schema.models, { name: 'Gone', table: 'gone', fields: [] }] },
        await readColumns(copy.url),
      );
      expect(missing).toContain('table gone (model Gone) does not exist in the database');
    } finally {
      await copy.drop();
    }
  });

  it('the parser reads maps, optionals, lists, enums, native types and skips relations', () => {
    const parsed = parsePrismaSchema(`
      enum Role {
        ADMIN
        @@map("role") // trailing comment
      }
      /// doc comment
      model User {
        id     String   @id @db.Uuid
        email  String?  @unique @map("e_mail") // "quoted // not a comment"
        tags   String[]
        role   Role     @default(ADMIN)
        at     DateTime
        posts  Post[]
        @@map("users")
      }
      model Post {
        id     Int    @id
        author User   @relation(fields: [authorId], references: [id])
        authorId String @map("author_id")
      }`);
    const user = parsed.models.find((m) => m.name === 'User')!;
    expect(user.table).toBe('users');
    expect(user.fields.map((f) => [f.column, expectedType(f, parsed.enums), f.optional])).toEqual([
      ['id', 'uuid', false],
      ['e_mail', 'text', true],
      ['tags', 'text[]', false],
      ['role', 'role', false],
      ['at', 'timestamp(3) without time zone', false],
    ]);
    expect(parsed.models.find((m) => m.name === 'Post')!.fields.map((f) => f.column)).toEqual(['id', 'author_id']);
  });
});

describe('the generated Prisma client', () => {
  it('was generated from the current schema.prisma (else run `npm run db:generate`)', async () => {
    const generated = await fs.readFile(GENERATED_CLIENT, 'utf8').catch(() => undefined);
    expect(generated, 'src/db/generated is missing: run `npm run db:generate`').toBeDefined();
    const inline = /"inlineSchema": ("(?:[^"\\]|\\.)*")/.exec(generated!)?.[1];
    expect(inline, 'no inlineSchema in the generated client: update this test').toBeDefined();
    // Formatting (prisma format) changes nothing the client depends on.
    const normalize = (text: string) => text.replace(/\s+/g, ' ').trim();
    const current = await fs.readFile(SCHEMA_FILE, 'utf8');
    expect(
      normalize(JSON.parse(inline!) as string) === normalize(current),
      'src/db/generated is stale: run `npm run db:generate`',
    ).toBe(true);
  });
});
