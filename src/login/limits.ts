import type { Context } from 'koa';
import { clientAddress } from '../client-address.js';
import { bucketOf, rateLimiter } from '../rate-limit.js';
import type { RateLimitStore } from '../store/types.js';
import type { ResolvedWechatLoginOptions } from './options.js';

/**
 * The login kit's limits on attempts, checked before jscode2session is called: per client address
 * first (so one noisy client does not drain the total), then in all for the appid, shared by every
 * instance through the store. Either answers 429 RATE_LIMITED with Retry-After.
 */
export function loginLimits(
  o: Pick<ResolvedWechatLoginOptions, 'appid' | 'rateLimit'>,
  storeOf: () => Promise<Partial<RateLimitStore>>,
): { check(ctx: Context): Promise<void> } {
  const limiter = rateLimiter(storeOf);
  const perClient = bucketOf(o.rateLimit.perClient);
  const total = bucketOf(o.rateLimit.total);
  return {
    check: async (ctx) => {
      await limiter.enforce(`login:${o.appid}:client:${clientAddress(ctx)}`, perClient);
      await limiter.enforce(`login:${o.appid}:total`, total);
    },
  };
}
