import type { ResolvedCode } from '../identity.js';
import type { CacheName } from '../metrics/metrics.js';
import type { UserIdentity } from '../store/types.js';
import { ReadCache } from './read-cache.js';
import type { UpstreamCard } from '../wechatpay/types.js';

export interface CardCacheOptions {
  /** How long a read stays fresh, ms; 0 turns the cache (and read sharing) off. */
  ttl: number;
  /** Most entries kept per kind; the least recently read go first. */
  max: number;
  /** Counters of hits and misses (metrics.ts), made once and called on every read. */
  counters?: { cacheHit(cache: CacheName): () => void; cacheMiss(cache: CacheName): () => void };
}

const uncounted = () => {};

/**
 * The per-instance read cache of the my-card path: which code a user's card has (from the
 * bindings) and the card itself. Whose card it is is still checked on every read, so a cached
 * card is never shown to another user; our own changes and notifications drop entries at once.
 */
export class CardCache {
  readonly #cards: ReadCache<UpstreamCard>;
  readonly #codes: ReadCache<ResolvedCode | undefined>;
  readonly #enabled: boolean;
  readonly #count: Record<CacheName, { hit: () => void; miss: () => void }>;

  constructor(options: CardCacheOptions) {
    this.#enabled = options.ttl > 0;
    const c = options.counters;
    this.#count = {
      card: { hit: c?.cacheHit('card') ?? uncounted, miss: c?.cacheMiss('card') ?? uncounted },
      code: { hit: c?.cacheHit('code') ?? uncounted, miss: c?.cacheMiss('code') ?? uncounted },
    };
    this.#cards = new ReadCache(options);
    this.#codes = new ReadCache(options);
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  get size(): number {
    return this.#cards.size;
  }

  card(cardId: string, code: string, load: () => Promise<UpstreamCard>): Promise<UpstreamCard> {
    if (!this.#enabled) return load();
    const key = `${cardId}\n${code}`;
    const hit = this.#cards.peek(key);
    if (hit) {
      this.#count.card.hit();
      return Promise.resolve(hit);
    }
    this.#count.card.miss();
    return this.#cards.get(key, load);
  }

  /** The user's code; "no card yet" is never kept, so a new binding is seen at once. */
  code(
    cardId: string,
    user: UserIdentity,
    load: () => Promise<ResolvedCode | undefined>,
  ): Promise<ResolvedCode | undefined> {
    if (!this.#enabled) return load();
    const key = `${cardId}\n${user.openid}\n${user.unionid ?? ''}`;
    const hit = this.#codes.peek(key);
    if (hit) {
      this.#count.code.hit();
      return Promise.resolve(hit);
    }
    this.#count.code.miss();
    return this.#codes.get(key, load, (resolved) => resolved !== undefined);
  }

  /** Forgets a card and every user resolved to it (after our own change or a notification about it). */
  invalidate(cardId: string, code: string): void {
    if (!this.#enabled) return;
    this.#cards.invalidate(`${cardId}\n${code}`);
    this.#codes.invalidateWhere((resolved) => resolved?.code === code);
  }
}
