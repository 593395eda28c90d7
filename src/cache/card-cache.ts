import { LRUCache } from 'lru-cache';
import type { ResolvedCode } from '../identity.js';
import type { CacheName } from '../metrics/metrics.js';
import type { SharedCacheStore, SharedCardEntry, SharedClaim, UserIdentity } from '../store/types.js';
import { isUpstreamUnavailable } from '../wechatpay/upstream-errors.js';
import type { UpstreamCard } from '../wechatpay/types.js';
import { CacheEvents } from './events.js';
import { ReadCache } from './read-cache.js';

export interface CardCacheOptions {
  /** How long a read stays fresh, ms; 0 turns the cache (and read sharing) off. */
  ttl: number;
  /** Most entries kept per kind; the least recently read go first. */
  max: number;
  /** After ttl, how long a card is still answered at once while one read refreshes it behind. */
  staleWhileRevalidate?: number;
  /** While WeChat Pay is unavailable, how old a card may be and still be answered (stale); 0: never. */
  maxStale?: number;
  /** The fresh time while the cache bus is live (changes on every instance are heard), instead of ttl. */
  coherentTtl?: number;
  /**
   * Counters of hits and misses (metrics.ts), made once and called on every read. The card's
   * hits, misses and stale answers are also events (cache.events); the code lookups are counted here.
   */
  counters?: { cacheHit(cache: CacheName): () => void; cacheMiss(cache: CacheName): () => void };
}

const uncounted = () => {};

/**
 * What a read answers: the card, when it was read, and whether it is a stale stand-in. A kept one
 * (stale false) is immutable and answered as it is, so a route may key work it did once on it.
 */
export interface CardRead {
  card: UpstreamCard;
  /** When it was read, ms since the epoch. */
  readAt: number;
  /** WeChat Pay was unavailable: this is the last card read (within maxStale), not a fresh one. */
  stale: boolean;
}

/** One read of a card from WeChat Pay, as kept. */
type CardEntry = CardRead;

/** How long one instance's claim to read a card lasts, and how long the others wait for its answer. */
const CLAIM_MS = 2000;
const CLAIM_WAIT_MS = 500;

/** The load of the read that started a fetch (lru-cache hands it to fetchMethod as its context). */
type Load = () => Promise<CardEntry>;

/**
 * The per-instance read cache of the my-card path: which code a user's card has (from the
 * bindings) and the card itself. Whose card it is is still checked on every read, so a cached
 * card is never shown to another user; our own changes and notifications drop entries at once.
 *
 * Cards live in lru-cache for as long as they may serve (the longer of the stale window and
 * maxStale); freshness is decided here from each entry's read time: fresh (ttl) → answered;
 * within the stale-while-revalidate window → answered and refreshed by one background fetch;
 * older → read again, and kept as a stand-in only if WeChat Pay is unavailable.
 */
export class CardCache {
  readonly #cards: LRUCache<string, CardEntry, Load>;
  readonly #codes: ReadCache<ResolvedCode | undefined>;
  readonly #enabled: boolean;
  readonly #countCode: { hit: () => void; miss: () => void };
  readonly #ttl: number;
  readonly #coherentTtl: number;
  readonly #window: number;
  readonly #maxStale: number;
  /** Since when the cache bus has been live; undefined while it is not (or there is none). */
  #coherentSince: number | undefined;
  readonly events = new CacheEvents();
  /** Tells the other instances (the cache bus) that a card changed; set by coherence.ts. */
  publish: ((cardId: string, code: string) => void) | undefined;
  /** The second level every instance reads (a Redis store's SharedCacheStore); set by coherence.ts. */
  shared: SharedCacheStore | undefined;

  constructor(options: CardCacheOptions) {
    const c = options.counters;
    this.#countCode = { hit: c?.cacheHit('code') ?? uncounted, miss: c?.cacheMiss('code') ?? uncounted };
    this.#enabled = options.ttl > 0;
    this.#ttl = options.ttl;
    this.#coherentTtl = Math.max(options.ttl, options.coherentTtl ?? options.ttl);
    this.#window = options.staleWhileRevalidate ?? 0;
    this.#maxStale = options.maxStale ?? 0;
    this.#cards = new LRUCache<string, CardEntry, Load>({
      max: options.max,
      ttl: Math.max(1, this.#coherentTtl + this.#window, this.#maxStale),
      // invalidate() drops a fetch in flight: its callers still get its answer, which is not kept.
      ignoreFetchAbort: true,
      // A failed refresh leaves the last card in place (the stand-in while WeChat Pay is down).
      noDeleteOnFetchRejection: true,
      fetchMethod: (_key, _stale, { context }) => context(),
    });
    this.#codes = new ReadCache(options);
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  get size(): number {
    return this.#cards.size;
  }

  /** The card, fresh or within the stale-while-revalidate window; never a stale stand-in. */
  async card(cardId: string, code: string, load: () => Promise<UpstreamCard>): Promise<UpstreamCard> {
    return (await this.read(cardId, code, load, { staleOnError: false })).card;
  }

  /**
   * The card as a read answers it. `staleOnError` (default true): when WeChat Pay is unavailable,
   * the last card read within maxStale is answered with `stale: true` instead of the error.
   */
  async read(
    cardId: string,
    code: string,
    load: () => Promise<UpstreamCard>,
    { staleOnError = true }: { staleOnError?: boolean } = {},
  ): Promise<CardRead> {
    if (!this.#enabled) {
      const readAt = Date.now();
      return { card: await load(), readAt, stale: false };
    }
    const key = `${cardId}\n${code}`;
    const kept = this.#cards.get(key);
    const readNow: Load = () => this.#readNow(cardId, code, load);
    if (kept) {
      const age = Date.now() - kept.readAt;
      const ttl = this.#ttlOf(kept);
      if (age < ttl) {
        this.events.emit('hit');
        return kept;
      }
      if (age < ttl + this.#window) {
        this.events.emit('revalidate');
        // fetch() of a key already being fetched joins that fetch: one refresh per card.
        this.#cards.fetch(key, { forceRefresh: true, allowStale: true, context: readNow }).catch(() => {});
        return kept;
      }
    }
    this.events.emit('miss');
    try {
      const entry = await this.#cards.fetch(key, { forceRefresh: true, allowStale: false, context: readNow });
      return entry ?? (await readNow());
    } catch (err) {
      if (!staleOnError || !isUpstreamUnavailable(err)) throw err;
      // The last card kept, here or by another instance, unless a change dropped it meanwhile.
      const last = this.#cards.peek(key) ?? (await this.#fromShared(cardId, code));
      if (!last || Date.now() - last.readAt > this.#maxStale) throw err;
      this.events.emit('stale');
      return { ...last, stale: true };
    }
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
      this.#countCode.hit();
      return Promise.resolve(hit);
    }
    this.#countCode.miss();
    return this.#codes.get(key, load, (resolved) => resolved !== undefined);
  }

  /**
   * Forgets a card and every user resolved to it (after our own change or a notification about it),
   * here and, through the cache bus, on every other instance.
   */
  invalidate(cardId: string, code: string): void {
    this.drop(cardId, code);
    const { shared, publish } = this;
    // The shared copy goes first: an instance told by the bus must not find the old card there.
    if (shared)
      void shared
        .dropCachedCard(cardId, code)
        .catch(() => {})
        .finally(() => publish?.(cardId, code));
    else publish?.(cardId, code);
  }

  /** Forgets a card here only (a change another instance announced). */
  drop(cardId: string, code: string): void {
    if (!this.#enabled) return;
    this.#cards.delete(`${cardId}\n${code}`);
    this.#codes.invalidateWhere((resolved) => resolved?.code === code);
  }

  /**
   * The cache bus is live (changes anywhere are heard) or not. Only cards read while it was live get
   * the longer coherentTtl: one read before, or during an outage, may have missed a change.
   */
  setCoherent(live: boolean): void {
    this.#coherentSince = live ? Date.now() : undefined;
  }

  get coherent(): boolean {
    return this.#coherentSince !== undefined;
  }

  /**
   * One read for the cache: from the shared level when another instance read the card recently,
   * else from WeChat Pay, by one instance at a time when the level can say which (claim): the others
   * wait a moment for its answer there instead of asking WeChat Pay the same.
   */
  async #readNow(cardId: string, code: string, load: () => Promise<UpstreamCard>): Promise<CardEntry> {
    const { shared } = this;
    if (shared) {
      const fresh = (found: CardEntry | undefined) => found && Date.now() - found.readAt < this.#ttlOf(found);
      // One round trip: the card another instance read while it is fresh, or the claim to read it.
      const { entry, claimed } = await shared
        .claimCardRead(cardId, code, CLAIM_MS, this.#freshFrom())
        .catch((): SharedClaim => ({ claimed: true }));
      let found = entry && parseShared(entry);
      if (!fresh(found) && !claimed) {
        for (const until = Date.now() + CLAIM_WAIT_MS; !fresh(found) && Date.now() < until;) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          found = await this.#fromShared(cardId, code);
        }
      }
      if (found && fresh(found)) {
        this.events.emit('shared_hit');
        return found;
      }
    }
    const readAt = Date.now();
    let card: UpstreamCard;
    try {
      card = await load();
    } catch (err) {
      // The others may read it themselves now, not after the claim runs out.
      shared?.releaseCardRead(cardId, code).catch(() => {});
      throw err;
    }
    // For the others; refused by the store if a change was announced since readAt.
    shared?.putCachedCard(cardId, code, { card: JSON.stringify(card), readAt }, this.#sharedTtl).catch(() => {});
    return { card, readAt, stale: false };
  }

  /** How long the shared level keeps a card: as long as it may serve, stale included. */
  get #sharedTtl(): number {
    return Math.max(this.#coherentTtl + this.#window, this.#maxStale);
  }

  /** The card another instance read, if the shared level has it (its failures are a miss). */
  async #fromShared(cardId: string, code: string): Promise<CardEntry | undefined> {
    if (!this.shared) return undefined;
    try {
      const found = await this.shared.getCachedCard(cardId, code);
      return found && parseShared(found);
    } catch {
      return undefined;
    }
  }

  /** The earliest read time (ms since the epoch) of a card that is fresh now: #ttlOf as a bound. */
  #freshFrom(): number {
    const now = Date.now();
    const plain = now - this.#ttl + 1;
    if (this.#coherentSince === undefined) return plain;
    return Math.min(plain, Math.max(this.#coherentSince, now - this.#coherentTtl + 1));
  }

  #ttlOf(entry: CardEntry): number {
    return this.#coherentSince !== undefined && entry.readAt >= this.#coherentSince ? this.#coherentTtl : this.#ttl;
  }
}

function parseShared(found: SharedCardEntry): CardEntry | undefined {
  try {
    return { card: JSON.parse(found.card) as UpstreamCard, readAt: found.readAt, stale: false };
  } catch {
    return undefined;
  }
}
