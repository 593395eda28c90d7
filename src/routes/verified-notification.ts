import type { Context, Middleware } from 'koa';
import { MemberCardError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { VerifiedNotification } from '../wechatpay/types.js';
import { rawBodyOf, rawTextBody } from './body.js';

/** Notifications are small; anything near this is not WeChat Pay. */
const NOTIFY_BODY_LIMIT = 64 * 1024;

/** The body parser of both notification routes (/notify, /pay-notify): the raw text, verified later. */
export const notificationBody = (): Middleware => rawTextBody(NOTIFY_BODY_LIMIT);

/**
 * The notification a request carries, verified and decrypted (card and payment notifications
 * alike). A refused one is logged without its content and counted as `unverified` (its event type
 * is not to be believed), then thrown as it is: 4xx, nothing changed.
 */
export function verifiedNotification(ctx: Context, rt: Runtime): VerifiedNotification {
  const raw = rawBodyOf(ctx);
  if (raw === undefined) {
    // A body parser ahead of our router read the stream and kept no raw text to verify.
    rt.log(
      'error',
      'notification body was consumed before the member-card router; mount it before other body parsers',
      {},
    );
    throw new MemberCardError('INTERNAL_ERROR', 'The notification could not be read.');
  }
  try {
    return rt.verifier.verify(ctx.headers, raw);
  } catch (err) {
    if (err instanceof MemberCardError)
      rt.log('warn', 'notification rejected', { code: err.code, reason: err.message });
    rt.metrics.notification('unverified', 'rejected');
    throw err;
  }
}
