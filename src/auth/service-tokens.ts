import { randomBytes, randomUUID } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { signingKey } from '../catalog/accounts.js';
import type { CatalogDb } from '../catalog/db.js';
import { AuthenticationError } from '../errors.js';

const ISSUER = 'inlet';
const ALGORITHM = 'HS256';

/** A JWT's shape, told apart from an opaque login token (base64url, no dots). */
export const looksLikeJwt = (token: string): boolean => token.split('.').length === 3;

/**
 * Signs and verifies service-account JWTs with the catalog's key (generated on the first start,
 * shared by every process of the catalog). A token names its account (`sub`) and the account's
 * token generation (`gen`): raising the generation revokes every token signed before.
 */
export class ServiceTokens {
  private constructor(private readonly key: Uint8Array) {}

  static async load(db: CatalogDb): Promise<ServiceTokens> {
    const secret = await signingKey(db, 'service_account_jwt', () => randomBytes(32).toString('base64'));
    return new ServiceTokens(Buffer.from(secret, 'base64'));
  }

  async sign(accountId: string, generation: number, expiresAt: Date): Promise<string> {
    return new SignJWT({ gen: generation })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setSubject(accountId)
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setJti(randomUUID())
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(this.key);
  }

  async verify(token: string): Promise<{ accountId: string; generation: number; expiresAtMs: number }> {
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: ISSUER, algorithms: [ALGORITHM], requiredClaims: ['sub', 'exp', 'iat'] });
      if (typeof payload.gen !== 'number') throw new AuthenticationError('the service-account token has no generation: create a new one');
      return { accountId: payload.sub!, generation: payload.gen, expiresAtMs: payload.exp! * 1000 };
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw new AuthenticationError('the service-account token has expired: create a new one with POST /config/v1/service_accounts/{id}/tokens/');
      if (err instanceof AuthenticationError) throw err;
      throw new AuthenticationError('the bearer token is not valid: log in again with POST /config/v1/login, or create a service-account token');
    }
  }
}
