// The fast timestamptz parser against pg's own (postgres-date), on text PostgreSQL itself
// produced under several session time zones: the same instant for every value, including the
// shapes only the fallback handles (infinity, BC, years before 1000, offsets with seconds).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTimestamptz } from '../../src/db/timestamps.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const pgParse = pg.types.getTypeParser(1184, 'text') as (text: string) => Date | number;

let database: TestDatabase;
let client: pg.Client;

beforeAll(async () => {
  database = await createTestDatabase();
  client = new pg.Client({ connectionString: database.url });
  await client.connect();
});
afterAll(async () => {
  await client?.end();
  await database?.drop();
});

const ZONES = ['UTC', 'Asia/Kolkata', 'America/St_Johns', 'Asia/Kathmandu', 'America/Sao_Paulo', 'Europe/Amsterdam'];
const VALUES = [
  '2026-11-25 15:00:00+00',
  '2026-11-25 15:00:00.5+00',
  '2026-11-25 15:00:00.123456+00',
  '2026-11-25 15:00:00.000001+00',
  '2026-11-25 15:00:00.999999+00',
  '2026-03-29 01:30:00+00',
  '2000-02-29 23:59:59.999+00',
  '1970-01-01 00:00:00+00',
  '1900-06-01 12:00:00+00', // local mean time: offsets with seconds in some zones
  '0999-12-31 23:59:59+00',
  '0044-03-15 12:00:00+00 BC',
  'infinity',
  '-infinity',
];

describe('parseTimestamptz', () => {
  it('gives the instant pg’s parser gives, for every value and session time zone', async () => {
    let compared = 0;
    for (const zone of ZONES) {
      await client.query(`SET TIME ZONE '${zone}'`);
      const { rows } = await client.query<{ text: string }>(
        'SELECT v::timestamptz::text AS text FROM unnest($1::text[]) v',
        [VALUES],
      );
      for (const { text } of rows) {
        const expected = pgParse(text);
        const actual = parseTimestamptz(text);
        if (typeof expected === 'number') expect(actual).toBe(expected);
        else expect((actual as Date).getTime(), text).toBe(expected.getTime());
        compared++;
      }
    }
    expect(compared).toBe(ZONES.length * VALUES.length);
  });
});
