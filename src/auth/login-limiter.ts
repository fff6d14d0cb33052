import { RateLimitError } from '../errors.js';

export interface LoginLimits {
  /** Failed logins per account, and (separately) per client address, within one window. */
  readonly maxFailuresPerAccount: number;
  readonly maxFailuresPerAddress: number;
  readonly windowSeconds: number;
}

/** Most counters kept: a spray of made-up names cannot grow memory without bound. */
const MAX_KEYS = 100_000;

/**
 * Counts failed logins (password and basic auth) per account and per client address in fixed
 * windows that start at a key's first failure. Past a limit every login for that key is refused
 * until its window ends, the right password too: otherwise the limit would only slow a guesser.
 * @fastify/rate-limit counts requests as they arrive, before the password is known; only failures
 * count here, so a user who logs in often is never limited.
 */
export class LoginLimiter {
  private readonly failures = new Map<string, { count: number; windowEndsMs: number }>();

  constructor(private readonly limits: LoginLimits) {}

  /** Throws RateLimitError when the account or the address has used up its failures. */
  check(account: string, address: string): void {
    const now = Date.now();
    for (const [key, max] of this.keys(account, address)) {
      const entry = this.failures.get(key);
      if (!entry) continue;
      if (entry.windowEndsMs <= now) {
        this.failures.delete(key);
        continue;
      }
      if (entry.count >= max) {
        const retryAfterSeconds = Math.max(1, Math.ceil((entry.windowEndsMs - now) / 1000));
        throw new RateLimitError(`too many failed logins for this ${key.startsWith('account:') ? 'account' : 'address'}: try again in ${retryAfterSeconds} s`, retryAfterSeconds);
      }
    }
  }

  failed(account: string, address: string): void {
    const now = Date.now();
    for (const [key] of this.keys(account, address)) {
      let entry = this.failures.get(key);
      if (!entry || entry.windowEndsMs <= now) {
        this.failures.delete(key);
        if (this.failures.size >= MAX_KEYS) this.failures.delete(this.failures.keys().next().value!);
        entry = { count: 0, windowEndsMs: now + this.limits.windowSeconds * 1000 };
        this.failures.set(key, entry);
      }
      entry.count++;
    }
  }

  private keys(account: string, address: string): [string, number][] {
    return [
      [`account:${account.toLowerCase()}`, this.limits.maxFailuresPerAccount],
      [`address:${address}`, this.limits.maxFailuresPerAddress],
    ];
  }
}
