// Shopper and staff JWTs, verified with jose: HS256 with JWT_SECRET, or the keys at JWT_JWKS_URL.
// `sub` is the user id; `role` is shopper (default), staff or admin; an expired token is refused.
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { Config } from '../config.js';

export const JWT_ROLES = ['shopper', 'staff', 'admin'] as const;
export type JwtRole = (typeof JWT_ROLES)[number];

export type VerifiedToken = { userId: string; role: JwtRole; expiresAt: Date | null };

export type JwtVerifier = (token: string) => Promise<VerifiedToken>;

export class InvalidToken extends Error {}

export function createJwtVerifier(auth: Config['auth']): JwtVerifier | null {
  let key: Parameters<typeof jwtVerify>[1] | null = null;
  let algorithms: string[] | undefined;
  if (auth.jwtSecret) {
    key = new TextEncoder().encode(auth.jwtSecret);
    algorithms = ['HS256'];
  } else if (auth.jwksUrl) {
    key = createRemoteJWKSet(new URL(auth.jwksUrl)) as unknown as Parameters<typeof jwtVerify>[1];
  }
  if (!key) return null;
  const verifyKey = key;
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, verifyKey as never, {
        algorithms,
        issuer: auth.jwtIssuer,
        audience: auth.jwtAudience,
      });
      if (typeof payload.sub !== 'string' || payload.sub === '')
        throw new InvalidToken('the token has no subject (sub)');
      const role = (payload.role ?? 'shopper') as JwtRole;
      if (!JWT_ROLES.includes(role)) throw new InvalidToken(`the token's role must be ${JWT_ROLES.join(', ')}`);
      return { userId: payload.sub, role, expiresAt: payload.exp ? new Date(payload.exp * 1000) : null };
    } catch (error) {
      if (error instanceof InvalidToken) throw error;
      if (error instanceof errors.JWTExpired) throw new InvalidToken('the token has expired');
      throw new InvalidToken(`the token is not valid (${(error as Error).message})`);
    }
  };
}
