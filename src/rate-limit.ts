import { MemberCardError } from './errors.js';
import { checkTake, fullAfterMs, takeFrom, type BucketState } from './store/token-bucket.js';
import type { BucketSpec, RateLimitStore, TakeResult } from './store/types.js';

/**
 * The rate limits of the login kit, GET /open and the admin guard, written once: a token bucket per
 * key in the store (RateLimitStore, shared by every instance), or, for a host's own store object
 * without takeTokens, in this process's memory (then each instance counts on its own).
 */

/** A limit as options give it: how many at once, and how many per minute after that. */
export interface RateLimit {
  burst: number;
  perMinute: number;
}

/** The bucket of a limit; undefined when perMinute is 0 (the limit is off). */
export function bucketOf(limit: RateLimit): BucketSpec | undefined {
  return limit.perMinute > 0 ? { capacity: limit.burst, refillPerSecond: limit.perMinute / 60 } : undefined;
}

/** Most buckets the in-memory fallback keeps: a flood of new keys cannot grow it without bound. */
const LOCAL_MAX = 100_000;

/** Token buckets in this process's memory, for a store without takeTokens. */
export class LocalBuckets implements RateLimitStore {
  readonly #buckets = new Map<string, BucketState & { fullAt: number }>();

  async takeTokens(key: string, bucket: BucketSpec, cost = 1): Promise<TakeResult> {
    checkTake(key, bucket, cost);
    const now = Date.now();
    const { next, result } = takeFrom(this.#buckets.get(key), bucket, cost, now);
    // Re-inserted so the Map's order is least recently used first.
    this.#buckets.delete(key);
    this.#buckets.set(key, { ...next, fullAt: now + fullAfterMs(next.tokens, bucket) });
    if (this.#buckets.size > LOCAL_MAX) this.#shrink(now);
    return result;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** Forgets buckets that are full again (forgetting them changes no answer), then the least recently used. */
  #shrink(now: number): void {
    for (const [key, b] of this.#buckets) if (b.fullAt <= now) this.#buckets.delete(key);
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size <= LOCAL_MAX * 0.9) break;
      this.#buckets.delete(key);
    }
  }
}

export interface Limiter {
  /** Takes `cost` (default 1; 0 only looks) from the bucket `key`, as the store's takeTokens does. */
  take(key: string, bucket: BucketSpec, cost?: number): Promise<TakeResult>;
  /** Takes one token, or throws 429 RATE_LIMITED with Retry-After when the bucket is empty. */
  enforce(key: string, bucket: BucketSpec | undefined): Promise<void>;
  /** Throws 429 RATE_LIMITED with Retry-After when the bucket holds less than one token; takes nothing. */
  ensureLeft(key: string, bucket: BucketSpec | undefined): Promise<void>;
}

/** The 429 of a refused take: Retry-After in whole seconds, at least 1. */
export function rateLimited(retryAfterMs: number | undefined): MemberCardError {
  const seconds = Math.max(1, Math.ceil((retryAfterMs ?? 1000) / 1000));
  return new MemberCardError('RATE_LIMITED', `Too many requests. Try again in ${seconds} s.`, { retryAfter: seconds });
}

/**
 * A limiter over the store `storeOf` resolves (initialised, as each consumer gets it), falling back
 * to buckets in memory when that store has no takeTokens. A store that is down makes a take fail
 * with STORE_UNAVAILABLE: nothing limited gets through uncounted.
 */
export function rateLimiter(
  storeOf: () => Promise<Partial<RateLimitStore>>,
  /** Told of each refusal enforce() or ensureLeft() answers (a metric counts them). */
  onRefused: () => void = () => {},
): Limiter {
  let local: LocalBuckets | undefined;
  const take = async (key: string, bucket: BucketSpec, cost = 1): Promise<TakeResult> => {
    const store = await storeOf();
    if (typeof store.takeTokens === 'function') return store.takeTokens(key, bucket, cost);
    local ??= new LocalBuckets();
    return local.takeTokens(key, bucket, cost);
  };
  return {
    take,
    enforce: async (key, bucket) => {
      if (!bucket) return;
      const result = await take(key, bucket);
      if (!result.allowed) {
        onRefused();
        throw rateLimited(result.retryAfterMs);
      }
    },
    ensureLeft: async (key, bucket) => {
      if (!bucket) return;
      const { remaining } = await take(key, bucket, 0);
      if (remaining < 1) {
        onRefused();
        throw rateLimited(((1 - remaining) * 1000) / bucket.refillPerSecond);
      }
    },
  };
}
