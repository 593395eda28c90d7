import type Router from '@koa/router';
import { requireUser } from '../identity.js';
import type { Runtime } from '../runtime.js';
import { rejectIdentifyingQuery } from './body.js';
import { newRequestNo } from '../ids.js';

/**
 * GET /open: the wx.navigateToMiniProgram parameters that open the card, with a fresh
 * single-use outer_str tied to the caller, so the ACCEPT_CARD notification can bind the new
 * code to this session user even when no unionid links the two apps.
 */
export function mountOpenCard(router: Router, rt: Runtime): void {
  router.get('/open', async (ctx) => {
    rejectIdentifyingQuery(ctx);
    const user = await requireUser(ctx, rt.options.identity);
    const store = await rt.store();
    const { openCard, cardId, appid } = rt.options;
    const outerStr = newRequestNo();
    const expiresAt = Date.now() + openCard.outerStrTtlMs;
    await store.putOuterStr(outerStr, user, expiresAt);
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
