import { LRUCache } from 'lru-cache';

export interface ReadCacheOptions {
  /** How long a kept value stays fresh, ms. */
  ttl: number;
  /** Most entries kept; the least recently read go first. */
  max: number;
}

/** What a load gave, and whether it may be kept ("no card yet" is answered but not remembered). */
interface Box<V> {
  value: V;
  keep: boolean;
}

/** The load of the read that started a fetch (lru-cache hands it to fetchMethod as its context). */
interface Load<V> {
  load: () => Promise<V>;
  keep: (value: V) => boolean;
}

/**
 * Bounded (LRU), short-lived, single-flight, over lru-cache: concurrent reads of one key share one
 * load (its fetch()), and invalidate() drops a read still in flight, so an answer from before a
 * change is never kept. ignoreFetchAbort: the dropped read still answers its callers (lru-cache
 * stores it only if its slot still holds that very fetch, which a delete has undone).
 */
export class ReadCache<V> {
  readonly #lru: LRUCache<string, Box<V>, Load<V>>;
  /** Keys with a load in flight: invalidateWhere() cannot see their future values, so it drops them all. */
  readonly #loading = new Set<string>();

  constructor(options: ReadCacheOptions) {
    this.#lru = new LRUCache<string, Box<V>, Load<V>>({
      max: options.max,
      ttl: Math.max(1, options.ttl),
      ignoreFetchAbort: true,
      fetchMethod: async (key, _stale, { context }) => {
        this.#loading.add(key);
        try {
          const value = await context.load();
          return { value, keep: context.keep(value) };
        } finally {
          this.#loading.delete(key);
        }
      },
    });
  }

  get size(): number {
    return this.#lru.size;
  }

  /** The fresh value kept under key, if any, without waiting: the hot path of a hit. */
  peek(key: string): V | undefined {
    return this.#lru.get(key)?.value;
  }

  async get(key: string, load: () => Promise<V>, keep: (value: V) => boolean = () => true): Promise<V> {
    const hit = this.#lru.get(key);
    if (hit) return hit.value;
    const box = (await this.#lru.fetch(key, { context: { load, keep } })) as Box<V>;
    // Not to be kept: forget it, unless a newer read has replaced it meanwhile.
    if (!box.keep && this.#lru.peek(key) === box) this.#lru.delete(key);
    return box.value;
  }

  invalidate(key: string): void {
    this.#lru.delete(key);
  }

  /** Drops every kept entry whose value matches (rare: a notification about one card). */
  invalidateWhere(matches: (value: V) => boolean): void {
    for (const [key, box] of this.#lru.entries()) if (matches(box.value)) this.#lru.delete(key);
    // A read in flight may be about to answer with that card: let it finish, but not be kept.
    for (const key of [...this.#loading]) this.#lru.delete(key);
  }
}
