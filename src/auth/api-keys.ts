// API keys: `ss_<id>_<secret>`. The id finds the row; only SHA-256 of the whole key is stored,
// and it is compared in constant time. Keys are 192 random bits, so a fast hash is enough: there
// is nothing to brute-force that a slow hash would protect.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { PrismaClient } from '../db/generated/prisma/client.js';

export const API_KEY_ROLES = ['integration', 'admin'] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

export type ApiKeyInfo = { id: string; name: string; role: ApiKeyRole; createdAt: Date; revokedAt: Date | null };

const FORMAT = /^ss_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{32})$/;

export class ApiKeyError extends Error {}

/** Creates a key and returns it: the only time the key itself exists outside its holder. */
export async function createApiKey(
  prisma: PrismaClient,
  name: string,
  role: ApiKeyRole,
): Promise<{ key: string; info: ApiKeyInfo }> {
  if (!/^[\w.-]{1,100}$/.test(name)) throw new ApiKeyError('a key name is 1 to 100 letters, digits, . _ or -');
  if (!API_KEY_ROLES.includes(role)) throw new ApiKeyError(`role must be ${API_KEY_ROLES.join(' or ')}`);
  const id = randomBytes(9).toString('base64url').replace(/[-_]/g, 'x').slice(0, 12);
  const key = `ss_${id}_${randomBytes(24).toString('base64url')}`;
  const existing = await prisma.apiKey.findUnique({ where: { name } });
  if (existing) throw new ApiKeyError(`a key named "${name}" exists already (revoked keys keep their name)`);
  const row = await prisma.apiKey.create({ data: { id, name, role, keyHash: hash(key) } });
  return { key, info: toInfo(row) };
}

export async function listApiKeys(prisma: PrismaClient): Promise<ApiKeyInfo[]> {
  const rows = await prisma.apiKey.findMany({ orderBy: { createdAt: 'asc' } });
  return rows.map(toInfo);
}

/** Revokes by name; true if a live key was revoked. */
export async function revokeApiKey(prisma: PrismaClient, name: string): Promise<boolean> {
  const { count } = await prisma.apiKey.updateMany({
    where: { name, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  return count > 0;
}

/** The key's owner, or null for an unknown, malformed or revoked key. */
export async function verifyApiKey(prisma: PrismaClient, key: string): Promise<ApiKeyInfo | null> {
  const match = FORMAT.exec(key);
  if (!match) return null;
  const row = await prisma.apiKey.findUnique({ where: { id: match[1] as string } });
  if (!row || row.revokedAt) return null;
  const expected = Buffer.from(row.keyHash, 'hex');
  const actual = Buffer.from(hash(key), 'hex');
  return expected.length === actual.length && timingSafeEqual(expected, actual) ? toInfo(row) : null;
}

/** Of the given key ids, those still valid: open sockets using any other one are closed. */
export async function liveKeyIds(prisma: PrismaClient, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await prisma.apiKey.findMany({ where: { id: { in: ids }, revokedAt: null }, select: { id: true } });
  return new Set(rows.map((row) => row.id));
}

/** Whether any key was ever created: the first one ends open development mode. */
export async function anyApiKeyExists(prisma: PrismaClient): Promise<boolean> {
  return (await prisma.apiKey.findFirst({ select: { id: true } })) !== null;
}

export function looksLikeApiKey(credential: string): boolean {
  return credential.startsWith('ss_');
}

function hash(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

function toInfo(row: { id: string; name: string; role: string; createdAt: Date; revokedAt: Date | null }): ApiKeyInfo {
  return {
    id: row.id,
    name: row.name,
    role: row.role as ApiKeyRole,
    createdAt: row.createdAt,
    revokedAt: row.revokedAt,
  };
}
