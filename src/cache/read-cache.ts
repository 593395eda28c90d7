export interface ReadCacheOptions {
  /** How long a kept value stays fresh, ms. */
  ttl: number;
  /** Most entries kept; the least recently read go first. */
  max: number;
}

interface Entry<V> {
  value: V;
  expiresAt: number;
}

/**
 * Bounded (LRU), short-lived, single-flight: concurrent reads of one key share one load, and
 * invalidate() drops a read still in flight, so an answer from before a change is never kept.
 */
export class ReadCache<V> {
  /** Map order is recency order: a hit moves its entry to the end. */
  readonly #entries = new Map<string, Entry<V>>();
  readonly #inflight = new Map<string, Promise<V>>();

  constructor(private readonly options: ReadCacheOptions) {}

  get size(): number {
    return this.#entries.size;
  }

  /** The fresh value kept under key, if any, without waiting: the hot path of a hit. */
  peek(key: string): V | undefined {
    const hit = this.#entries.get(key);
    if (!hit) return undefined;
    this.#entries.delete(key);
    if (hit.expiresAt <= Date.now()) return undefined;
    this.#entries.set(key, hit);
    return hit.value;
  }

  async get(key: string, load: () => Promise<V>, keep: (value: V) => boolean = () => true): Promise<V> {
    const hit = this.peek(key);
    if (hit !== undefined) return hit;
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    const read = load().then(
      (value) => {
        if (this.#inflight.get(key) === read) {
          this.#inflight.delete(key);
          if (keep(value)) this.#store(key, value);
        }
        return value;
      },
      (err: unknown) => {
        if (this.#inflight.get(key) === read) this.#inflight.delete(key);
        throw err;
      },
    );
    this.#inflight.set(key, read);
    return read;
  }

  invalidate(key: string): void {
    this.#entries.delete(key);
    this.#inflight.delete(key);
  }

  /** Drops every kept entry whose value matches (rare: a notification about one card). */
  invalidateWhere(matches: (value: V) => boolean): void {
    for (const [key, entry] of this.#entries) if (matches(entry.value)) this.#entries.delete(key);
    // A read in flight may be about to answer with that card: let it finish, but not be kept.
    this.#inflight.clear();
  }

  #store(key: string, value: V): void {
    this.#entries.set(key, { value, expiresAt: Date.now() + this.options.ttl });
    if (this.#entries.size > this.options.max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }
}
