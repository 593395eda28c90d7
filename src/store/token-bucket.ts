/**
 * The token bucket every engine keeps for RateLimitStore: `capacity` tokens, refilled continuously
 * at `refillPerSecond`, a take allowed only when the bucket holds the whole cost. Memory and SQLite
 * compute it here; PostgreSQL and Redis say the same in SQL and Lua against their server's clock.
 */
import { OptionsError } from '../errors.js';
import type { BucketSpec, TakeResult } from './types.js';

export interface BucketState {
  tokens: number;
  /** ms since the epoch. */
  updatedAt: number;
}

/** The bucket at `now`, and what taking `cost` from it gives (the state to keep and the answer). */
export function takeFrom(
  state: BucketState | undefined,
  spec: BucketSpec,
  cost: number,
  now: number,
): { next: BucketState; result: TakeResult } {
  const elapsed = state ? Math.max(0, now - state.updatedAt) : 0;
  const tokens = state
    ? Math.min(spec.capacity, state.tokens + (elapsed * spec.refillPerSecond) / 1000)
    : spec.capacity;
  if (tokens >= cost) {
    return { next: { tokens: tokens - cost, updatedAt: now }, result: { allowed: true, remaining: tokens - cost } };
  }
  const retryAfterMs = Math.ceil(((cost - tokens) * 1000) / spec.refillPerSecond);
  return { next: { tokens, updatedAt: now }, result: { allowed: false, remaining: tokens, retryAfterMs } };
}

/** How long a bucket takes to be full again: after that, forgetting it changes no answer. */
export function fullAfterMs(tokens: number, spec: BucketSpec): number {
  return Math.ceil(((spec.capacity - tokens) * 1000) / spec.refillPerSecond) + 1000;
}

/** Checks a take's arguments once, in every engine, before anything is read. */
export function checkTake(key: string, spec: BucketSpec, cost: number): void {
  const fail = (what: string): never => {
    throw new OptionsError(`takeTokens: ${what}`);
  };
  if (typeof key !== 'string' || key.length === 0 || key.length > 200) fail('"key" must be 1-200 characters');
  if (!Number.isSafeInteger(spec.capacity) || spec.capacity < 1) fail('"capacity" must be a whole number ≥ 1');
  if (!Number.isFinite(spec.refillPerSecond) || spec.refillPerSecond <= 0) fail('"refillPerSecond" must be > 0');
  if (!Number.isSafeInteger(cost) || cost < 0 || cost > spec.capacity) fail('"cost" must be 0..capacity');
}
