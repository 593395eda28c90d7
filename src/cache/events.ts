/**
 * What the card cache did, for whoever counts it (the metrics of `serve`, a host's own): counters
 * to read at any time, and a listener per event. Never carries a card or a code.
 */
export type CacheEvent =
  /** A fresh card from this instance's cache. */
  | 'hit'
  /** No usable card here: read from the shared cache or WeChat Pay. */
  | 'miss'
  /** Past its TTL, within the stale-while-revalidate window: answered at once, refreshed behind. */
  | 'revalidate'
  /** WeChat Pay unavailable (or over budget): a card within maxStale answered with `stale: true`. */
  | 'stale'
  /** The upstream budget refused a call to WeChat Pay. */
  | 'budget_refused'
  /** A card read by another instance, from the shared cache (Redis). */
  | 'shared_hit';

export type CacheStats = Record<CacheEvent, number>;

export class CacheEvents {
  readonly #stats: CacheStats = { hit: 0, miss: 0, revalidate: 0, stale: 0, budget_refused: 0, shared_hit: 0 };
  readonly #listeners = new Set<(event: CacheEvent) => void>();

  emit(event: CacheEvent): void {
    this.#stats[event] += 1;
    for (const listener of this.#listeners) listener(event);
  }

  /** The counts since this memberCard() started. */
  stats(): CacheStats {
    return { ...this.#stats };
  }

  /** Calls `listener` on each event; answers the function that stops it. */
  on(listener: (event: CacheEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
