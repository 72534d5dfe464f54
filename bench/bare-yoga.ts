// The ceiling of the fixed stack: graphql-yoga (its defaults: parse and validation caches, error
// masking) over a graphql-js schema that has only recordActivity, whose resolver stores the
// events with the baseline's own statement (one row: INSERT … VALUES; a batch: INSERT … SELECT
// FROM unnest) into bare_events. No validation of ours, no log of rejects, no auth, limits,
// metrics, tracing or processors. What it loses against bench/bare-http.ts is what Yoga and
// graphql-js charge per request on this machine; what our server loses against it is ours.
// Environment: DATABASE_URL, POOL (connections). Tells its port over IPC.
import { createServer } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';
import pg from 'pg';
import type { ActivityInput } from '../src/cli/simulate.js';
import { serveBare } from './bare-serve.js';
import { BARE_BATCH_INSERT, BARE_ROW_INSERT, columns, toRow } from './scenarios/ingest-rows.js';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL ?? 16) });

const schema = createSchema({
  typeDefs: /* GraphQL */ `
    enum ActivityType { BROWSE ADD_TO_CART REMOVE_FROM_CART PURCHASE }
    enum Ack { STORED PROCESSED }
    input ActivityEventInput {
      eventId: ID!
      userId: ID!
      type: ActivityType!
      productId: ID!
      quantity: Int
      unitPrice: String
      currency: String
      orderId: ID
      occurredAt: String
    }
    type IngestError { index: Int! code: String! }
    type IngestReport { accepted: Int! duplicates: Int! errors: [IngestError!]! position: String }
    type Query { ok: Boolean }
    type Mutation { recordActivity(events: [ActivityEventInput!]!, ack: Ack): IngestReport! }
  `,
  resolvers: {
    Mutation: {
      async recordActivity(_: unknown, args: { events: ActivityInput[] }) {
        const rows = args.events.map(toRow);
        const result =
          rows.length === 1
            ? await pool.query(BARE_ROW_INSERT, rows[0])
            : await pool.query(BARE_BATCH_INSERT, columns(rows));
        const accepted = result.rowCount ?? 0;
        return { accepted, duplicates: rows.length - accepted, errors: [], position: null };
      },
    },
  },
});

const yoga = createYoga({ schema, logging: false, graphiql: false });
const server = createServer(yoga);

serveBare(server, pool);
