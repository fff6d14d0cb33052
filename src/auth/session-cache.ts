import type { Principal } from '../catalog/accounts.js';
import { TtlCache } from '../ttl-cache.js';

/** How long a verified token is trusted without asking the catalog again (never past its expiry). */
export const SESSION_CACHE_MS = 5000;

/**
 * A server's verified tokens. A change to an account made through this server (roles, deletion,
 * password) drops every cached token of that account at once; other servers see it within
 * SESSION_CACHE_MS.
 */
export class SessionCache {
  private readonly tokens = new TtlCache<string, { principal: Principal; cachedAt: number }>(10_000);
  /** Account id → when it last changed; kept only as long as a token cached before it could live. */
  private readonly changedAt = new Map<string, number>();

  get(token: string): Principal | undefined {
    const entry = this.tokens.get(token);
    if (!entry) return undefined;
    const changed = this.changedAt.get(entry.principal.id);
    if (changed !== undefined && changed >= entry.cachedAt) {
      this.tokens.delete(token);
      return undefined;
    }
    return entry.principal;
  }

  set(token: string, principal: Principal, expiresAtMs: number): void {
    const ttl = Math.min(SESSION_CACHE_MS, expiresAtMs - Date.now());
    if (ttl > 0) this.tokens.set(token, { principal, cachedAt: Date.now() }, ttl);
  }

  delete(token: string): void {
    this.tokens.delete(token);
  }

  /** The account's roles, password or existence changed: its cached tokens are verified again. */
  accountChanged(id: string): void {
    const now = Date.now();
    for (const [key, at] of this.changedAt) if (now - at > SESSION_CACHE_MS) this.changedAt.delete(key);
    this.changedAt.set(id, now);
  }
}
