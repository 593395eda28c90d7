import { rateLimited, type Limiter } from '../rate-limit.js';
import { markUnavailable } from '../wechatpay/upstream-errors.js';
import type { CacheEvents } from './events.js';

/** The bucket's key in the store: one per merchant, shared by every instance on that store. */
const key = (mchid: string): string => `upstream:${mchid}`;

/**
 * The upstream budget (issue 15): a token bucket in the store, shared by all instances, that a card
 * or template read takes from before it is sent. Refused, the read fails as "WeChat Pay unavailable"
 * (429 RATE_LIMITED with Retry-After), which the card cache answers stale when it can. A store that
 * cannot be asked lets the read through: the budget protects WeChat Pay's quota, not our data.
 */
export function upstreamBudget(
  limiter: Limiter,
  options: { mchid: string; perSecond: number; burst: number },
  events: CacheEvents,
): (() => Promise<void>) | undefined {
  if (options.perSecond <= 0) return undefined;
  const bucket = { capacity: options.burst, refillPerSecond: options.perSecond };
  return async () => {
    const result = await limiter.take(key(options.mchid), bucket).catch(() => undefined);
    if (!result || result.allowed) return;
    events.emit('budget_refused');
    throw markUnavailable(rateLimited(result.retryAfterMs));
  };
}
