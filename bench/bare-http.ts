// The ceiling of any HTTP ingest service on this machine: a bare `node:http` server in its own
// process that takes the same GraphQL request body as recordActivity, JSON.parses it, and stores
// its events with the baseline's own statement (one row: INSERT … VALUES; a batch: INSERT …
// SELECT FROM unnest) into bare_events, then answers like the mutation. No GraphQL, no
// validation, no de-duplication check beyond the unique key, no log of rejects: only the HTTP
// round trip, the JSON and the INSERT. What it loses against the bare INSERT is what the machine
// charges for HTTP. Environment: DATABASE_URL, POOL (connections). Tells its port over IPC.
import { createServer } from 'node:http';
import pg from 'pg';
import type { ActivityInput } from '../src/cli/simulate.js';
import { serveBare } from './bare-serve.js';
import { BARE_BATCH_INSERT, BARE_ROW_INSERT, columns, toRow } from './scenarios/ingest-rows.js';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL ?? 16) });

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', async () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { variables: { events: ActivityInput[] } };
      const rows = body.variables.events.map(toRow);
      const result =
        rows.length === 1
          ? await pool.query(BARE_ROW_INSERT, rows[0])
          : await pool.query(BARE_BATCH_INSERT, columns(rows));
      const accepted = result.rowCount ?? 0;
      const answer = JSON.stringify({
        data: { recordActivity: { accepted, duplicates: rows.length - accepted, errors: [] } },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
      res.end(answer);
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    }
  });
});

serveBare(server, pool);
