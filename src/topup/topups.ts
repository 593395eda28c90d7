import type { KeyObject } from 'node:crypto';
import { MemberCardError } from '../errors.js';
import { newRequestNo } from '../ids.js';
import type { Operations } from '../operations/types.js';
import type { ResolvedMemberCardOptions } from '../options.js';
import type { Runtime } from '../runtime.js';
import type { TopupOrder, UserIdentity } from '../store/types.js';
import type { Transaction } from '../wechatpay/pay-types.js';
import { bonusFor, isOffered, offersJson, type Offers, type OffersJson } from './offers.js';
import { change, topupStore } from './order-store.js';
import { requestPaymentParams, type RequestPaymentParams } from './pay-sign.js';
import { Settler } from './settle.js';
import { orderDescription } from './texts.js';

// Top-ups: a member pays stored value with WeChat Pay in the mini-program. An order is made (or a
// pending one reused), WeChat Pay's notification or our own query marks it paid, and the card is
// credited once through merchant operations; the reconciler moves every order on to its end.

type TopupSettings = ResolvedMemberCardOptions['topup'];

/** What `cards.topups` offers a host. */
export interface Topups {
  /** What may be paid, as GET {prefix}/topup answers it. */
  offers(): OffersJson;
  /** One order by its id (the out_trade_no), whatever its state. */
  get(outTradeNo: string): Promise<TopupOrder | undefined>;
  /**
   * One pass over the orders that are due: queries the unpaid ones WeChat Pay did not tell us about,
   * closes the expired ones, credits the paid ones, reports deliveries. Safe to run on several
   * instances at once (one runner per order); `serve` runs it on a timer.
   */
  reconcile(options?: { limit?: number }): Promise<ReconcileReport>;
}

export interface ReconcileReport {
  /** Orders looked at, and how they stood afterwards. */
  checked: number;
  credited: number;
  closed: number;
  /** Still pending or paid: due again later. */
  waiting: number;
}

/** What POST {prefix}/topup answers. */
export interface PlacedOrder {
  order: TopupOrder;
  /** wx.requestPayment's parameters. */
  payment: RequestPaymentParams;
  /** False when a pending order of the same tap was reused. */
  created: boolean;
}

/** The routes' view of top-ups (the host's is Topups). */
export interface TopupService extends Topups {
  /** Whether the merchant offers this amount. */
  offered(amount: unknown): amount is number;
  order(user: UserIdentity, code: string, amount: number): Promise<PlacedOrder>;
  /** The caller's own order, moved on first when the mini-program polls it after paying. */
  view(user: UserIdentity, outTradeNo: string): Promise<TopupOrder>;
  /** A verified TRANSACTION.SUCCESS. `order`: ours (then settled in the background); absent: not ours. */
  notified(t: Transaction): Promise<{ order?: TopupOrder; outcome: 'paid' | 'mismatch' | 'unknown' | 'ignored' }>;
}

export function notOffered(): MemberCardError {
  return new MemberCardError('AMOUNT_NOT_OFFERED', 'This amount cannot be paid. See GET /topup for the offers.', {
    details: [{ field: 'amount', issue: 'is not one of the amounts offered' }],
  });
}

/** Letters and digits only: a valid out_trade_no and a valid merchant-operations requestId alike. */
function newOutTradeNo(): string {
  return `TU${newRequestNo().slice(0, 30)}`;
}

/** time_expire in China time, whole seconds (the same text on every send of one order). */
export function timeExpire(ms: number): string {
  return `${new Date(ms + 8 * 3600_000).toISOString().slice(0, 19)}+08:00`;
}

/** The mini-program polls every second or so after paying: WeChat Pay is asked at most this often per order. */
const POLL_QUERY_EVERY_MS = 2000;

export function createTopups(
  rt: Runtime,
  operations: Operations,
  settings: TopupSettings,
  privateKey: KeyObject,
): TopupService {
  const { cardId } = rt.options;
  const { mchid } = rt.options.wechatpay;
  const appid = settings.appid as string;
  const notifyUrl = settings.notifyUrl as string;
  const offers: Offers = {
    ...(settings.amounts ? { amounts: settings.amounts } : {}),
    ...(settings.min !== undefined ? { min: settings.min } : {}),
    ...(settings.max !== undefined ? { max: settings.max } : {}),
    bonuses: settings.bonuses,
  };
  const settler = new Settler(rt, operations, {
    retryMs: settings.retryMs,
    shipping: settings.shipping.accessToken
      ? {
          accessToken: settings.shipping.accessToken,
          itemDesc: settings.shipping.itemDesc,
          baseURL: settings.shipping.baseURL,
          timeoutMs: rt.options.wechatpay.timeoutMs,
        }
      : undefined,
  });
  const lastPoll = new Map<string, number>();

  /** The JSAPI order for a stored one; the same body every time, so a re-send gets the same prepay_id. */
  async function prepay(order: TopupOrder): Promise<TopupOrder> {
    const store = await topupStore(rt);
    let prepayId: string;
    try {
      ({ prepay_id: prepayId } = await rt.client.createJsapiOrder({
        appid: order.appid,
        mchid: order.mchid,
        description: order.description,
        out_trade_no: order.outTradeNo,
        time_expire: timeExpire(order.expiresAt),
        notify_url: notifyUrl,
        amount: { total: order.amount, currency: 'CNY' },
        payer: { openid: order.openid },
      }));
    } catch (err) {
      const upstream = err instanceof MemberCardError ? err.cause : undefined;
      const code = (upstream as { code?: unknown } | undefined)?.code;
      if (err instanceof MemberCardError && err.code === 'UPSTREAM_ERROR' && typeof code === 'string') {
        // A refusal: this order will not go through as it is, and nobody can have paid it (no one
        // had its parameters yet): failed, so the next tap makes another.
        rt.log('error', 'WeChat Pay refused the top-up order', { outTradeNo: order.outTradeNo, code });
        await change(store, order, (o) =>
          o.state === 'pending' && !o.prepayId
            ? { ...o, state: 'failed', error: { code: 'UPSTREAM_ERROR', message: code } }
            : undefined,
        );
      }
      throw err;
    }
    return change(store, order, (o) => (o.prepayId === prepayId ? undefined : { ...o, prepayId }));
  }

  async function get(outTradeNo: string): Promise<TopupOrder | undefined> {
    if (typeof outTradeNo !== 'string' || !/^[A-Za-z0-9]{1,32}$/.test(outTradeNo)) return undefined;
    return (await topupStore(rt)).getTopupOrder(cardId, outTradeNo);
  }

  return {
    offers: () => offersJson(offers),
    get,

    offered: (amount: unknown): amount is number => isOffered(offers, amount),

    async order(user, code, amount) {
      if (!isOffered(offers, amount)) throw notOffered();
      const store = await topupStore(rt);
      const now = Date.now();
      const fresh: TopupOrder = {
        cardId,
        outTradeNo: newOutTradeNo(),
        openid: user.openid,
        ...(user.unionid ? { unionid: user.unionid } : {}),
        code,
        amount,
        bonus: bonusFor(offers, amount),
        appid,
        mchid,
        description: orderDescription(settings.description, amount),
        expiresAt: Math.floor((now + settings.expireMs) / 1000) * 1000,
        state: 'pending',
        creditAttempt: 0,
        // Asked about at WeChat Pay if no notification came by then.
        nextCheckAt: now + settings.reconcileAfterMs,
        checks: 0,
        createdAt: now,
        updatedAt: now,
        version: 0,
      };
      const { created, order: stored } = await store.createTopupOrder(fresh, now - settings.reuseWindowMs);
      const order = stored.prepayId ? stored : await prepay(stored);
      rt.log('info', created ? 'top-up ordered' : 'top-up order reused', { outTradeNo: order.outTradeNo, amount });
      return { order, payment: requestPaymentParams(privateKey, order.appid, order.prepayId as string), created };
    },

    async view(user, outTradeNo) {
      const order = await get(outTradeNo);
      if (!order || order.openid !== user.openid)
        throw new MemberCardError('TOPUP_NOT_FOUND', 'No such top-up of yours.');
      const now = Date.now();
      const open = (order.state === 'pending' && order.prepayId !== undefined) || order.state === 'paid';
      if (!open || now - (lastPoll.get(outTradeNo) ?? 0) < POLL_QUERY_EVERY_MS) return order;
      lastPoll.set(outTradeNo, now);
      if (lastPoll.size > 10_000) lastPoll.clear();
      try {
        return await settler.settle(order, 'poll');
      } catch {
        // The mini-program keeps polling; the reconciler keeps the order moving.
        return order;
      }
    },

    async notified(t) {
      if (t.trade_state !== 'SUCCESS') return { outcome: 'ignored' };
      const order = typeof t.out_trade_no === 'string' ? await get(t.out_trade_no) : undefined;
      if (!order) {
        rt.log('warn', 'payment notification for an order we did not make', {});
        return { outcome: 'unknown' };
      }
      const store = await topupStore(rt);
      const marked = await settler.markPaid(store, order, t, 'notification');
      const outcome = marked.error?.code === 'TOPUP_MISMATCH' && marked.state !== 'paid' ? 'mismatch' : 'paid';
      // In the background: WeChat Pay waits for our answer (5 s), and the store already holds what
      // it needs to finish (the reconciler does, should this process die first).
      void settler.settle(marked, 'notified').catch((err: unknown) => {
        rt.log('warn', 'top-up not settled yet; the reconciler goes on', {
          outTradeNo: marked.outTradeNo,
          code: err instanceof MemberCardError ? err.code : 'UNKNOWN',
        });
      });
      return { order: marked, outcome };
    },

    async reconcile(options = {}) {
      const limit = options.limit ?? 50;
      const store = await topupStore(rt);
      const due = await store.listDueTopupOrders(cardId, Date.now(), limit);
      const report: ReconcileReport = { checked: 0, credited: 0, closed: 0, waiting: 0 };
      for (const order of due) {
        report.checked += 1;
        let after: TopupOrder;
        try {
          after = await settler.settle(order, 'due');
        } catch (err) {
          rt.log('warn', 'top-up reconcile step failed', {
            outTradeNo: order.outTradeNo,
            code: err instanceof MemberCardError ? err.code : 'UNKNOWN',
          });
          report.waiting += 1;
          continue;
        }
        if (after.state === 'credited') report.credited += 1;
        else if (after.state === 'closed') report.closed += 1;
        else if (after.state === 'pending' || after.state === 'paid') report.waiting += 1;
      }
      return report;
    },
  };
}

/** An order as the mini-program sees it (no card code, openid or payment details). */
export function orderJson(order: TopupOrder): Record<string, unknown> {
  return {
    id: order.outTradeNo,
    amount: order.amount,
    bonus: order.bonus,
    credit: order.amount + order.bonus,
    state: order.state,
    ...(order.balanceAfter !== undefined ? { balance: order.balanceAfter } : {}),
    created_at: new Date(order.createdAt).toISOString(),
    expires_at: new Date(order.expiresAt).toISOString(),
    ...(order.paidAt !== undefined ? { paid_at: new Date(order.paidAt).toISOString() } : {}),
  };
}
