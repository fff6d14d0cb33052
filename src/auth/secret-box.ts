import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 'v1';

/** INLET_SECRET_KEY as 32 bytes: base64 (`openssl rand -base64 32`) or 64 hex digits; undefined when it is neither. */
export function secretKeyBytes(text: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  const decoded = /^[A-Za-z0-9+/_-]+={0,2}$/.test(text) ? Buffer.from(text, 'base64') : undefined;
  return decoded?.length === 32 ? decoded : undefined;
}

/**
 * Seals secrets for the catalog with AES-256-GCM under the operator's key (INLET_SECRET_KEY):
 * a copy of the catalog alone reveals nothing. Each sealed value is bound to its owner (`context`,
 * as associated data), so one row's ciphertext copied into another row does not open there.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** The box for a configured key, or undefined when the operator gave none. */
  static fromKey(secretKey: string | undefined): SecretBox | undefined {
    if (secretKey === undefined) return undefined;
    const key = secretKeyBytes(secretKey);
    if (!key) throw new Error('INLET_SECRET_KEY is not 32 bytes of base64 or hex');
    return new SecretBox(key);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join(':');
  }

  /** Throws when the value was sealed under another key or context, or was changed. */
  open(sealed: string, context: string): string {
    const [version, iv, tag, body] = sealed.split(':');
    if (version !== VERSION || !iv || !tag || body === undefined) throw new Error('not a sealed value');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
  }
}
