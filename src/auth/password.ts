import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const PARAMS = { N: 16384, r: 8, p: 1, keylen: 64 } as const;

function derive(password: string, salt: Buffer, opts: ScryptOptions, keylen: number): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keylen, { ...opts, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))));
}

/** scrypt, stored with its parameters so they can be raised later without breaking old hashes. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMS, PARAMS.keylen);
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await derive(password, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p) }, expected.length);
  return timingSafeEqual(actual, expected);
}

/**
 * The hash of a random password nobody knows, made with PARAMS: a login for an unknown user is
 * checked against it, so it spends the same scrypt work as a wrong password for a real user and
 * its timing does not tell which users exist.
 */
const NO_SUCH_USER_HASH = 'scrypt$16384$8$1$BISwOu7YCEmi14knYeoCZg==$t7Ix8qMYSdgFbgUhpRf3meRTJgEsh7PlUyzY/m157sWjo97IVm7lFkL58VTTrO6JEeb+d09vZOXfldBEvCVb6g==';

/** Checks a login's password against the user's hash, with the same work when there is no such user. */
export async function verifyLogin(password: string, stored: string | undefined): Promise<boolean> {
  const matches = await verifyPassword(password, stored ?? NO_SUCH_USER_HASH);
  return stored !== undefined && matches;
}

export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
