/**
 * A small map whose entries expire: hot read paths (a token on every request, a job's status
 * polled by many dashboards) hit SQL at most once per entry lifetime.
 */
export class TtlCache<K, V> {
  private readonly entries = new Map<K, { value: V; expiresAt: number }>();

  constructor(private readonly maxEntries: number) {}

  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: K, value: V, ttlMs: number): void {
    // Oldest first out: Map keeps insertion order.
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as K);
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: Date.now() + ttlMs });
  }

  delete(key: K): void {
    this.entries.delete(key);
  }
}

/**
 * A value per key computed at most once at a time however many ask, and reused for `freshMs`.
 * After that the next asker starts a recomputation; while it runs, a value younger than
 * `staleMs` is answered at once, so no caller waits behind it (an older one is not: a value
 * nobody asked for in a while is recomputed first).
 */
export class RefreshingCache<K, V> {
  private readonly entries = new Map<K, { value?: V; at: number; pending?: Promise<V> }>();

  constructor(
    private readonly maxEntries: number,
    private readonly freshMs: number,
    private readonly staleMs: number,
  ) {}

  get(key: K, compute: () => Promise<V>): Promise<V> {
    const now = Date.now();
    let entry = this.entries.get(key);
    if (entry?.value !== undefined && now - entry.at < this.freshMs) return Promise.resolve(entry.value);
    if (!entry) {
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as K);
      entry = { at: 0 };
      this.entries.set(key, entry);
    }
    const current = entry;
    if (!current.pending) {
      current.pending = compute().then(
        (value) => {
          current.value = value;
          current.at = Date.now();
          current.pending = undefined;
          return value;
        },
        (err: unknown) => {
          current.pending = undefined;
          if (current.value === undefined && this.entries.get(key) === current) this.entries.delete(key);
          throw err;
        },
      );
      // A refresh nobody waits for must not become an unhandled rejection.
      current.pending.catch(() => undefined);
    }
    if (current.value !== undefined && now - current.at < this.staleMs) return Promise.resolve(current.value);
    return current.pending;
  }

  delete(key: K): void {
    this.entries.delete(key);
  }
}
