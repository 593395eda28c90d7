import { randomDigits, chinaTime } from './ids.js';
import type { SandboxKeys } from './keys.js';
import type { Notifier } from './notifier.js';
import { TRADE_STATE_DESC, tradeState, type PayOrder } from './pay-state.js';
import type { SandboxState, StoredNotification } from './state.js';

// A JSAPI order as WeChat Pay reports it (the Transaction of the query and of TRANSACTION.SUCCESS),
// and what happens when the user pays: the order is paid and the notification goes out.

/**
 * The Transaction object (go services/payments/models.go; oa Transaction.yaml). Success-only fields
 * (transaction_id, bank_type, success_time, attach, payer_total) only once paid: "只有支付完成状态才会返回".
 */
export function transactionOf(order: PayOrder, now = Date.now()): Record<string, unknown> {
  const state = tradeState(order, now);
  const paid = state === 'SUCCESS';
  return {
    appid: order.appid,
    mchid: order.mchid,
    out_trade_no: order.out_trade_no,
    ...(order.transaction_id ? { transaction_id: order.transaction_id } : {}),
    trade_type: 'JSAPI',
    trade_state: state,
    trade_state_desc: TRADE_STATE_DESC[state],
    ...(paid
      ? {
          bank_type: 'OTHERS',
          ...(order.attach !== undefined ? { attach: order.attach } : {}),
          success_time: order.success_time,
          payer: { openid: order.payer.openid },
          amount: {
            total: order.amount.total,
            payer_total: order.amount.total,
            currency: order.amount.currency,
            payer_currency: order.amount.currency,
          },
        }
      : { amount: { total: order.amount.total, currency: order.amount.currency } }),
  };
}

/** Whether the openid is one under the AppID: the mini-program's users, or the 服务号's. */
export function openidUnder(state: SandboxState, keys: SandboxKeys, appid: string, openid: string): boolean {
  if (appid === keys.miniProgramAppid) return state.data.users.some((u) => u.mp_openid === openid);
  if (appid === keys.appid) return state.data.users.some((u) => u.oa_openid === openid);
  return false;
}

export interface PaymentOptions {
  /** false: WeChat Pay never sends the notification ("微信不保证通知最终能成功"). */
  notify?: boolean;
  /** Extra deliveries after one was acknowledged. */
  duplicates?: number;
  /** The first delivery this much later. */
  delayMs?: number;
}

/** The user pays an open order: SUCCESS, a transaction id, and (unless lost) TRANSACTION.SUCCESS. */
export function completePayment(
  ctx: { state: SandboxState; notifier: Notifier },
  order: PayOrder,
  options: PaymentOptions = {},
): StoredNotification | undefined {
  order.trade_state = 'SUCCESS';
  // 28 digits, like 4200002003202311293108245549.
  order.transaction_id = `4200${randomDigits(24)}`;
  order.success_time = chinaTime();
  ctx.state.save();
  if (options.notify === false) return undefined;
  return ctx.notifier.enqueuePayment(
    transactionOf(order) as { out_trade_no: string } & Record<string, unknown>,
    order.notify_url,
    {
      ...(options.duplicates ? { duplicates: options.duplicates } : {}),
      ...(options.delayMs ? { delayMs: options.delayMs } : {}),
    },
  );
}
