// Who is asking. A credential travels as `Authorization: Bearer <credential>` (HTTP, SSE) or as
// connectionParams.authorization in graphql-ws: an API key (integration, admin) or a JWT
// (shopper, staff, admin). With no JWT setting and no API key ever created, the service runs in
// open development mode: everyone is an admin, and it listens on loopback only.
import type { PrismaClient } from '../db/generated/prisma/client.js';
import { anyApiKeyExists, looksLikeApiKey, verifyApiKey } from './api-keys.js';
import { InvalidToken, type JwtVerifier } from './jwt.js';

export type Role = 'anonymous' | 'integration' | 'shopper' | 'staff' | 'admin';

export type Viewer = Readonly<{
  role: Role;
  /** The shopper's (or staff member's) user id, from the JWT's `sub`. */
  userId: string | null;
  /** Stable per credential: rate limits and connection caps are counted against it. */
  credential: string;
  /** For API keys: the key id, re-checked on open sockets so that revocation closes them. */
  keyId: string | null;
  /** For JWTs: when the token expires; open sockets are closed then. */
  expiresAt: Date | null;
  /** Open development mode: no authentication is configured. */
  open: boolean;
}>;

export const ANONYMOUS: Viewer = {
  role: 'anonymous',
  userId: null,
  credential: 'anonymous',
  keyId: null,
  expiresAt: null,
  open: false,
};
const OPEN: Viewer = { role: 'admin', userId: null, credential: 'open', keyId: null, expiresAt: null, open: true };

/** A credential was given but is not valid (unknown, malformed, revoked, expired). */
export class Unauthenticated extends Error {}

export type Authenticator = {
  /** The viewer for an Authorization value (`Bearer …`), or throws Unauthenticated. */
  authenticate(authorization: string | null | undefined): Promise<Viewer>;
  /** True while no JWT setting and no API key exist. */
  isOpen(): Promise<boolean>;
  /** Re-checks a viewer on an open socket: null when it is no longer valid, with the reason. */
  stillValid(viewer: Viewer, now: Date, liveKeys: Set<string>): string | null;
};

export function createAuthenticator(options: { prisma: PrismaClient; jwt: JwtVerifier | null }): Authenticator {
  let openCache: { value: boolean; until: number } | null = null;
  const isOpen = async () => {
    if (options.jwt) return false;
    // Creating the first key ends open mode within a second, in every process.
    if (!openCache || openCache.until < Date.now()) {
      openCache = { value: !(await anyApiKeyExists(options.prisma)), until: Date.now() + 1000 };
    }
    return openCache.value;
  };

  return {
    isOpen,
    async authenticate(authorization) {
      if (!authorization) return (await isOpen()) ? OPEN : ANONYMOUS;
      const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
      if (!match) throw new Unauthenticated('the Authorization header must be "Bearer <API key or JWT>"');
      const credential = match[1] as string;
      if (looksLikeApiKey(credential)) {
        const key = await verifyApiKey(options.prisma, credential);
        if (!key) throw new Unauthenticated('the API key is unknown or revoked');
        return {
          role: key.role,
          userId: null,
          credential: `key:${key.id}`,
          keyId: key.id,
          expiresAt: null,
          open: false,
        };
      }
      if (!options.jwt) {
        throw new Unauthenticated('tokens are not accepted here: no JWT_SECRET or JWT_JWKS_URL is configured');
      }
      try {
        const token = await options.jwt(credential);
        return {
          role: token.role,
          userId: token.userId,
          credential: `user:${token.userId}`,
          keyId: null,
          expiresAt: token.expiresAt,
          open: false,
        };
      } catch (error) {
        if (error instanceof InvalidToken) throw new Unauthenticated(error.message);
        throw error;
      }
    },
    stillValid(viewer, now, liveKeys) {
      if (viewer.keyId && !liveKeys.has(viewer.keyId)) return 'the API key was revoked';
      if (viewer.expiresAt && viewer.expiresAt <= now) return 'the token has expired';
      return null;
    },
  };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
