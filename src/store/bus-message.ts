// The message of the cache bus (redis-bus.ts, postgres-bus.ts): which card changed, nothing else.
// It carries a card code, so it is never logged; a message that does not parse is dropped.

export function encodeInvalidation(cardId: string, code: string): string {
  return JSON.stringify([cardId, code]);
}

export function decodeInvalidation(raw: string): [string, string] | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string')
      return [value[0], value[1]];
  } catch {
    // not ours
  }
  return undefined;
}

/** Waits between reconnection attempts: 100 ms doubling to 5 s. */
export function backoff(attempt: number): number {
  return Math.min(5000, 100 * 2 ** Math.min(attempt, 6));
}

/**
 * The cache-bus subscriptions a store opened, so its close() ends them too: a host that closes only
 * the store leaves nothing open.
 */
export class Subscriptions {
  readonly #open = new Set<() => Promise<void>>();

  /** Keeps `stop` until it is called; answers the unsubscribe the caller gets. */
  track(stop: () => Promise<void>): () => Promise<void> {
    const unsubscribe = async () => {
      this.#open.delete(unsubscribe);
      await stop();
    };
    this.#open.add(unsubscribe);
    return unsubscribe;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#open].map((unsubscribe) => unsubscribe()));
  }
}
