import type { UpstreamCard } from './wechatpay/types.js';

export interface CardCacheOptions {
  /** How long a card read stays fresh, ms; 0 turns the cache (and read sharing) off. */
  ttl: number;
  /** Most cards kept; the least recently read go first. */
  max: number;
}

interface Entry {
  card: UpstreamCard;
  expiresAt: number;
}

/**
 * A per-instance read cache for cards, keyed by card id and code: bounded (LRU), short-lived,
 * and single-flight (concurrent reads of one card share one upstream call). Whose card it is
 * is still checked by the caller on every read, so a cached card is never shown to another user.
 */
export class CardCache {
  readonly #ttl: number;
  readonly #max: number;
  /** Map order is recency order: a hit moves its entry to the end. */
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<UpstreamCard>>();

  constructor(options: CardCacheOptions) {
    this.#ttl = options.ttl;
    this.#max = options.max;
  }

  get enabled(): boolean {
    return this.#ttl > 0;
  }

  get size(): number {
    return this.#entries.size;
  }

  async get(cardId: string, code: string, load: () => Promise<UpstreamCard>): Promise<UpstreamCard> {
    if (!this.enabled) return load();
    const key = `${cardId}\n${code}`;
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      if (hit.expiresAt > Date.now()) {
        this.#entries.set(key, hit);
        return hit.card;
      }
    }
    const pending = this.#inflight.get(key);
    if (pending) return pending;

    const read = load().then(
      (card) => {
        // Still the current read? invalidate() drops in-flight reads, so one that started
        // before a change never stores its stale answer.
        if (this.#inflight.get(key) === read) {
          this.#inflight.delete(key);
          this.#store(key, card);
        }
        return card;
      },
      (err: unknown) => {
        if (this.#inflight.get(key) === read) this.#inflight.delete(key);
        throw err;
      },
    );
    this.#inflight.set(key, read);
    return read;
  }

  /** Forgets a card at once (after our own change or a notification about it). */
  invalidate(cardId: string, code: string): void {
    if (!this.enabled) return;
    const key = `${cardId}\n${code}`;
    this.#entries.delete(key);
    this.#inflight.delete(key);
  }

  #store(key: string, card: UpstreamCard): void {
    this.#entries.set(key, { card, expiresAt: Date.now() + this.#ttl });
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }
}
