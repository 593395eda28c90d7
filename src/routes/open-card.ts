import { createHash } from 'node:crypto';
import type Router from '@koa/router';
import { requireUser } from '../identity.js';
import { bucketOf, rateLimiter } from '../rate-limit.js';
import type { Runtime } from '../runtime.js';
import type { CardStore, UserIdentity } from '../store/types.js';
import { rejectIdentifyingQuery } from './body.js';
import { newRequestNo } from '../ids.js';

/**
 * GET /open: the wx.navigateToMiniProgram parameters that open the card, with a single-use
 * outer_str tied to the caller, so the ACCEPT_CARD notification can bind the new code to this
 * session user even when no unionid links the two apps. A user has one live outer_str per card:
 * each call hands out the same one, its lifetime renewed, until a notification consumes it, so
 * calls do not pile up rows; and calls are rate-limited per user (issue 12, finding 4).
 */
export function mountOpenCard(router: Router, rt: Runtime): void {
  const limiter = rateLimiter(rt.store, () => rt.metrics.rateLimited('open'));
  const bucket = bucketOf(rt.options.rateLimit.open);
  router.get('/open', async (ctx) => {
    rejectIdentifyingQuery(ctx);
    const user = await requireUser(ctx, rt.options.identity);
    const { openCard, cardId, appid } = rt.options;
    // Hashed: an openid may be 128 characters, a bucket key at most 200.
    await limiter.enforce(`open:${cardId}:${createHash('sha256').update(user.openid).digest('hex')}`, bucket);
    const store = await rt.store();
    const expiresAt = Date.now() + openCard.outerStrTtlMs;
    const outerStr = await issue(store, cardId, user, expiresAt);
    ctx.set('Cache-Control', 'private, no-store');
    ctx.body = {
      appId: openCard.appId,
      path: openCard.path,
      envVersion: openCard.envVersion,
      extraData: {
        create_card_appid: appid,
        card_id: cardId,
        outer_str: outerStr,
        ...(openCard.activateType ? { activate_type: openCard.activateType } : {}),
        ...(openCard.jumpUrl ? { jump_url: openCard.jumpUrl } : {}),
      },
      expiresAt: new Date(expiresAt).toISOString(),
    };
  });
}

/** The user's live outer_str for the card; a host's own store without issueOuterStr gets a fresh one each time. */
async function issue(store: CardStore, cardId: string, user: UserIdentity, expiresAt: number): Promise<string> {
  const candidate = newRequestNo();
  if (store.issueOuterStr) return store.issueOuterStr(cardId, user, candidate, expiresAt);
  await store.putOuterStr(candidate, user, expiresAt);
  return candidate;
}
