import type Router from '@koa/router';
import type { Runtime } from '../runtime.js';
import type { NotificationEffect, NotificationStore } from '../store/types.js';
import { isCardCode, isCardId, isOpaqueId } from '../ids.js';
import type { VerifiedNotification } from '../wechatpay/types.js';
import { notificationBody, verifiedNotification } from './verified-notification.js';
import { countedNotification } from '../metrics/notifications.js';

const BINDING_EVENTS = new Set(['MEMBERCARD.ACCEPT_CARD', 'MEMBERCARD.ACTIVATE_CARD']);

/** The identifiers of a payload we store: a value that cannot be stored as it is (NUL…) is left out. */
const IDENTIFIERS = ['unionid', 'openid', 'outer_str'] as const;

function text(value: unknown, max: number): string | undefined {
  return isOpaqueId(value, max) ? value : undefined;
}

/** The identifiers a payload carries that effectOf leaves out (strings we could not store as they are). */
function leftOut(payload: VerifiedNotification['payload']): string[] {
  return IDENTIFIERS.filter((field) => typeof payload[field] === 'string' && !isOpaqueId(payload[field], 128));
}

/** What a verified notification does to our bindings. Other cards of the brand change nothing. */
export function effectOf(notification: VerifiedNotification, cardId: string): NotificationEffect {
  const { payload, eventType } = notification;
  const code = isCardCode(payload.code) ? payload.code : undefined;
  if (payload.card_id !== cardId || !code) return { kind: 'none' };
  if (BINDING_EVENTS.has(eventType)) {
    const unionid = text(payload.unionid, 128);
    const oaOpenid = text(payload.openid, 128);
    // Only an acceptance may tie a code to the user who fetched GET /open: an activation can
    // carry any outer_str (issue 12, finding 1), so it never consumes one.
    const outerStr = eventType === 'MEMBERCARD.ACCEPT_CARD' ? text(payload.outer_str, 128) : undefined;
    return {
      kind: 'bind',
      cardId,
      code,
      ...(unionid ? { unionid } : {}),
      ...(oaOpenid ? { oaOpenid } : {}),
      ...(outerStr ? { outerStr } : {}),
    };
  }
  if (eventType === 'MEMBERCARD.USERCARD_MANAGE' && payload.event_type === 'USER_DELETE_MEMBERCARD') {
    return { kind: 'retire', cardId, code };
  }
  return { kind: 'none' };
}

/**
 * POST /notify: verify → decrypt → de-duplicate and apply in one atomic store step. A failed
 * check changes nothing and answers 4xx; a store failure answers 5xx so WeChat Pay retries.
 * No upstream call happens here, so a slow WeChat Pay cannot make us miss the 5 s deadline.
 */
export function mountNotify(router: Router, rt: Runtime): void {
  router.post('/notify', notificationBody(), async (ctx) => {
    const notification = verifiedNotification(ctx, rt);
    await countedNotification(rt, notification.eventType, () => apply(notification));
    ctx.status = 204;
  });

  /** The effect of a verified notification, once; true when it was new. */
  async function apply(notification: VerifiedNotification): Promise<boolean> {
    const effect = effectOf(notification, rt.options.cardId);
    const store: NotificationStore = await rt.store();
    const { payload } = notification;
    // Never a 500 that WeChat Pay would redeliver forever: applied without what cannot be stored.
    for (const field of leftOut(payload)) rt.log('warn', 'notification field left out', { id: notification.id, field });
    const first = await store.applyNotification(
      {
        id: notification.id,
        eventType: notification.eventType,
        ...(isCardId(payload.card_id) ? { cardId: payload.card_id } : {}),
        ...(isCardCode(payload.code) ? { code: payload.code } : {}),
        receivedAt: Date.now(),
      },
      effect,
      {
        // Someone else's card came back carrying a user's outer_str: worth a look, never a binding.
        outerStrRefused: (reason) =>
          rt.log('warn', 'outer_str ignored', { id: notification.id, eventType: notification.eventType, reason }),
      },
    );
    // Anything WeChat Pay tells us about one of our cards may have changed it.
    if (payload.card_id === rt.options.cardId && isCardCode(payload.code))
      rt.cache.invalidate(rt.options.cardId, payload.code);
    rt.log('info', first ? 'notification applied' : 'duplicate notification ignored', {
      id: notification.id,
      eventType: notification.eventType,
      effect: effect.kind,
    });
    return first;
  }
}
