import type { Context } from 'koa';
import { clientAddress } from '../client-address.js';
import { bucketOf, rateLimiter } from '../rate-limit.js';
import { rateLimitTally } from '../metrics/metrics.js';
import type { RateLimitStore } from '../store/types.js';
import type { ResolvedWechatLoginOptions } from './options.js';

/**
 * The login kit's limits on attempts, checked before jscode2session is called: per client address
 * first (so one noisy client does not drain the total), then in all for the appid, shared by every
 * instance through the store. Either answers 429 RATE_LIMITED with Retry-After.
 */
export function loginLimits(
  o: Pick<ResolvedWechatLoginOptions, 'appid' | 'rateLimit' | 'metrics'>,
  storeOf: () => Promise<Partial<RateLimitStore>>,
): { check(ctx: Context): Promise<void> } {
  // Refusals are counted only in a registry the host gave (the `metrics` option).
  const refusals = o.metrics ? rateLimitTally(o.metrics) : undefined;
  const clientLimiter = rateLimiter(storeOf, () => refusals?.add({ limit: 'login_client' }));
  const totalLimiter = rateLimiter(storeOf, () => refusals?.add({ limit: 'login_total' }));
  const perClient = bucketOf(o.rateLimit.perClient);
  const total = bucketOf(o.rateLimit.total);
  return {
    check: async (ctx) => {
      await clientLimiter.enforce(`login:${o.appid}:client:${clientAddress(ctx)}`, perClient);
      await totalLimiter.enforce(`login:${o.appid}:total`, total);
    },
  };
}
