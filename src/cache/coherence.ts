import type { Log } from '../log.js';
import { errorName } from '../log.js';
import { hasCacheBus, hasSharedCache } from '../store/roles.js';
import type { CardCache } from './card-cache.js';

/**
 * Keeps this instance's card cache coherent with the others (issue 15): our invalidations are
 * published on the store's cache bus, and theirs drop cards here; with a shared second level
 * (Redis), a card read by one instance serves the others. While the subscription is down
 * the cache uses its short TTL; one warning per outage, never a card or a code.
 */
export class Coherence {
  #unsubscribe: (() => Promise<void>) | undefined;
  #attached = false;
  #wasLive = false;
  #publishWarned = false;
  #closed = false;

  constructor(
    private readonly cache: CardCache,
    private readonly log: Log,
  ) {}

  /** Subscribes once, when the store (initialised) carries a bus; the memory and SQLite stores have none. */
  attach(store: object): void {
    if (this.#attached || !this.cache.enabled) return;
    this.#attached = true;
    if (hasSharedCache(store)) {
      this.cache.shared = store;
    }
    if (!hasCacheBus(store)) return;
    this.cache.publish = (cardId, code) => {
      store.publishInvalidation(cardId, code).then(
        () => (this.#publishWarned = false),
        (err: unknown) => {
          if (this.#publishWarned) return;
          this.#publishWarned = true;
          this.log(
            'warn',
            'cache bus: an invalidation could not be published; other instances keep it up to their TTL',
            {
              error: errorName(err),
            },
          );
        },
      );
    };
    this.#unsubscribe = store.subscribeInvalidations({
      invalidated: (cardId, code) => this.cache.drop(cardId, code),
      live: (up) => {
        // Unsubscribing says "lost" too: not an outage.
        if (this.#closed) return;
        this.cache.setCoherent(up);
        if (up === this.#wasLive) return;
        // The subscriber says each change once: one warning per outage, one note when it ends.
        if (up) this.log('info', 'cache bus subscription live', {});
        else this.log('warn', 'cache bus subscription lost; cards use the short TTL until it is back', {});
        this.#wasLive = up;
      },
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = undefined;
    this.cache.publish = undefined;
    this.cache.shared = undefined;
    this.cache.setCoherent(false);
    await unsubscribe?.();
  }
}
