import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('has working defaults for a fresh machine', () => {
    const config = loadConfig({});
    expect(config.http).toMatchObject({ host: '127.0.0.1', port: 4000 });
    expect(config.db.url).toBeUndefined();
    expect(config.db.dataDir).toBe('./data');
    expect(config.inventory.lowStockThreshold).toBe(10);
    expect(config.ingest.defaultCurrency).toBe('USD');
    expect(Object.isFrozen(config.http)).toBe(true);
  });

  it('names every bad setting at once', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', LOW_STOCK_THRESHOLD: '-1', DEFAULT_CURRENCY: 'EURO', DATABASE_URL: 'mysql://x' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { problems } = error as ConfigError;
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/PORT.*"eighty"/);
    expect(problems.join('\n')).toMatch(/LOW_STOCK_THRESHOLD/);
    expect(problems.join('\n')).toMatch(/DEFAULT_CURRENCY.*"EURO"/);
    expect(problems.join('\n')).toMatch(/DATABASE_URL must be a URL starting with postgres/);
  });

  it('refuses the webhook backoff settings in milliseconds that pg-boss replaced, naming the new one', () => {
    expect(() => loadConfig({ WEBHOOK_BACKOFF_BASE_MS: '5000' })).toThrow(
      /WEBHOOK_BACKOFF_BASE_MS is no longer read: set WEBHOOK_BACKOFF_BASE_SECONDS/,
    );
    expect(() => loadConfig({ WEBHOOK_BACKOFF_MAX_MS: '3600000' })).toThrow(/WEBHOOK_BACKOFF_MAX_MS is no longer read/);
    expect(loadConfig({ WEBHOOK_BACKOFF_BASE_SECONDS: '2' }).webhooks.backoffBaseSeconds).toBe(2);
  });

  it('never echoes a database URL, which may hold a password', () => {
    expect(() => loadConfig({ DATABASE_URL: 'http://user:secret@host/db' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('secret') }),
    );
  });

  it("allows every browser origin in development and only the page's own in production, unless ALLOWED_ORIGINS says otherwise", () => {
    expect(loadConfig({}).http.allowedOrigins).toBeNull();
    expect(loadConfig({ NODE_ENV: 'production' }).http.allowedOrigins).toEqual([]);
    expect(loadConfig({ NODE_ENV: 'production', ALLOWED_ORIGINS: '*' }).http.allowedOrigins).toBeNull();
    expect(
      loadConfig({ ALLOWED_ORIGINS: 'https://shop.example.com, http://localhost:3000/' }).http.allowedOrigins,
    ).toEqual(['https://shop.example.com', 'http://localhost:3000']);
    expect(() => loadConfig({ ALLOWED_ORIGINS: 'shop.example.com,https://a.example/path' })).toThrow(
      /ALLOWED_ORIGINS must be .*"shop.example.com"[\s\S]*"https:\/\/a.example\/path"/,
    );
  });
});

describe('.env.example and the README', () => {
  const source = readFileSync(new URL('../src/config.ts', import.meta.url), 'utf8');
  const read = new Set([...source.matchAll(/read\.\w+\('([A-Z0-9_]+)'|env\.([A-Z0-9_]+)/g)].map((m) => m[1] ?? m[2]));
  const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
  // "# NAME=value   # comment" → NAME: value
  const listed = new Map(
    [...example.matchAll(/^# ([A-Z0-9_]+)=(\S*)/gm)].map((m) => [m[1] as string, m[2] as string] as const),
  );

  it('.env.example lists every setting config.ts reads, and no other', () => {
    expect(read.size).toBeGreaterThan(40);
    expect([...read].filter((name) => !listed.has(name as string))).toEqual([]);
    expect([...listed.keys()].filter((name) => !read.has(name))).toEqual([]);
  });

  it(".env.example's values are the defaults", () => {
    expect(loadConfig(Object.fromEntries(listed))).toEqual(loadConfig({}));
  });

  it("the README's configuration table names every setting", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = readme.slice(
      readme.indexOf('## Configuration'),
      readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1),
    );
    expect([...read].filter((name) => !section.includes(`\`${name}\``))).toEqual([]);
  });

  it('hands the costly processors to a background worker on PostgreSQL, never on the embedded database', () => {
    const url = 'postgresql://postgres@127.0.0.1:5432/shop';
    expect(loadConfig({}).processing.background).toEqual([]);
    expect(loadConfig({ DATABASE_URL: url }).processing.background).toEqual([
      'recommendations',
      'activity-summaries',
      'sales-alerts',
    ]);
    expect(loadConfig({ DATABASE_URL: url, BACKGROUND_PROCESSORS: 'none' }).processing.background).toEqual([]);
    // Only what the process runs at all can be handed off.
    expect(loadConfig({ DATABASE_URL: url, PROCESSORS: 'inventory,recommendations' }).processing.background).toEqual([
      'recommendations',
    ]);
    expect(() => loadConfig({ BACKGROUND_PROCESSORS: 'sales' })).toThrow(/BACKGROUND_PROCESSORS needs DATABASE_URL/);
    expect(() => loadConfig({ DATABASE_URL: url, BACKGROUND_PROCESSORS: 'billing' })).toThrow(
      /BACKGROUND_PROCESSORS must be none or a comma-separated list of .*"billing"/,
    );
  });
});
