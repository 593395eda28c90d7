import type Router from '@koa/router';
import type { Runtime } from '../runtime.js';
import type { TopupService } from '../topup/topups.js';
import type { VerifiedNotification } from '../wechatpay/types.js';
import { notificationBody, verifiedNotification } from './verified-notification.js';
import { countedNotification } from '../metrics/notifications.js';

/**
 * POST /pay-notify: WeChat Pay's payment notifications (each order's notify_url). Verified and
 * decrypted like the card notifications (same verifier); TRANSACTION.SUCCESS marks its top-up paid
 * in the store before we answer 204, and the credit follows (here at once, else the reconciler). A
 * failed check changes nothing and answers 4xx; a store failure 5xx, so WeChat Pay retries.
 */
export function mountPayNotify(router: Router, rt: Runtime, topups: TopupService): void {
  router.post('/pay-notify', notificationBody(), async (ctx) => {
    const notification = verifiedNotification(ctx, rt);
    await countedNotification(rt, notification.eventType, () => apply(notification));
    ctx.status = 204;
  });

  /** Marks the top-up paid (and credits it) and records the notification; true when it was new. */
  async function apply(notification: VerifiedNotification): Promise<boolean> {
    const outcome =
      notification.eventType === 'TRANSACTION.SUCCESS'
        ? (await topups.notified(notification.payload)).outcome
        : 'ignored';
    const store = await rt.store();
    // Recorded after the order was marked paid: a redelivery after a crash in between is applied again.
    const first = await store.applyNotification(
      { id: notification.id, eventType: notification.eventType, receivedAt: Date.now() },
      { kind: 'none' },
    );
    rt.log('info', first ? 'payment notification applied' : 'duplicate payment notification ignored', {
      id: notification.id,
      eventType: notification.eventType,
      outcome,
    });
    return first;
  }
}
