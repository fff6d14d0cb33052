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
  /** Logins under way per key: each may yet be a failure, so each counts against the limit. */
  private readonly underWay = new Map<string, number>();

  constructor(private readonly limits: LoginLimits) {}

  /** Throws RateLimitError when the account or the address has used up its failures, counting the logins under way as failures. */
  check(account: string, address: string): void {
    const now = Date.now();
    for (const [key, max] of this.keys(account, address)) {
      let entry = this.failures.get(key);
      if (entry && entry.windowEndsMs <= now) {
        this.failures.delete(key);
        entry = undefined;
      }
      if ((entry?.count ?? 0) + (this.underWay.get(key) ?? 0) >= max) {
        const retryAfterSeconds = Math.max(1, Math.ceil(((entry?.windowEndsMs ?? now + this.limits.windowSeconds * 1000) - now) / 1000));
        throw new RateLimitError(`too many failed logins for this ${key.startsWith('account:') ? 'account' : 'address'}: try again in ${retryAfterSeconds} s`, retryAfterSeconds);
      }
    }
  }

  /**
   * Checks, then holds a place for one login until its password is verified: guesses sent all at
   * once pass the check only as many as the failures left, not all of them (the hash is slow).
   * `failed` counts the failure; `release` (after a success, or an error that is no guess) does not.
   */
  begin(account: string, address: string): { failed(): void; release(): void } {
    this.check(account, address);
    const keys = this.keys(account, address).map(([key]) => key);
    for (const key of keys) this.underWay.set(key, (this.underWay.get(key) ?? 0) + 1);
    let ended = false;
    const end = () => {
      if (ended) return false;
      ended = true;
      for (const key of keys) {
        const left = (this.underWay.get(key) ?? 1) - 1;
        if (left > 0) this.underWay.set(key, left);
        else this.underWay.delete(key);
      }
      return true;
    };
    return {
      failed: () => {
        if (end()) this.failed(account, address);
      },
      release: () => void end(),
    };
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
