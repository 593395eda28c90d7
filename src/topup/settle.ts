import { randomUUID } from 'node:crypto';
import { MemberCardError } from '../errors.js';
import type { Operations } from '../operations/types.js';
import type { Runtime } from '../runtime.js';
import type { TopupOrder } from '../store/types.js';
import type { Transaction } from '../wechatpay/pay-types.js';
import { change, topupStore, without, type TopupStore } from './order-store.js';
import { reportDelivery, type ShippingSettings } from './shipping.js';
import { creditRemark } from './texts.js';
import { mismatches, paidAt } from './transaction-check.js';

// One top-up moved on as far as it can go: pending → (query WeChat Pay; close it once expired) →
// paid → (credit through merchant operations, exactly once) → credited → (delivery report). Every
// step that fails leaves the order as it was, due again after a back-off: nothing is lost.

/** Who credits: the actor of the journal entry and the audit line. */
export const TOPUP_ACTOR = 'wechatpay-topup';

const HOUR = 3_600_000;
/** A delivery report that keeps failing is given up after this many tries (about two days). */
const MAX_SHIPPING_CHECKS = 48;
/**
 * The per-order lease: one runner per order across instances, renewed while held, so a runner that
 * died holds it up for this long at most. Correctness never rests on it (compare-and-set, journal).
 */
const ORDER_LOCK_TTL_MS = 5000;

export interface SettleSettings {
  retryMs: number;
  shipping: ShippingSettings | undefined;
}

/**
 * due: the reconciler; notified: right after a payment notification; poll: the mini-program asks
 * for the order (query WeChat Pay, credit if paid, but never close or reschedule).
 */
export type SettleMode = 'due' | 'notified' | 'poll';

/** The journal requestId of an order's credit: the out_trade_no, or `-N` after refusals that changed nothing. */
export function creditRequestId(order: TopupOrder): string {
  return order.creditAttempt ? `${order.outTradeNo}-${order.creditAttempt}` : order.outTradeNo;
}

function errorOf(err: unknown): { code: string; message: string } {
  return err instanceof MemberCardError
    ? { code: err.code, message: err.message }
    : { code: 'INTERNAL_ERROR', message: 'Something went wrong on our side.' };
}

const TRADE_PENDING = new Set(['NOTPAY', 'USERPAYING', 'PAYERROR', 'ACCEPT']);

export class Settler {
  /** Orders being settled in this process: callers of one order share the work. */
  readonly #running = new Map<string, Promise<TopupOrder>>();

  constructor(
    private readonly rt: Runtime,
    private readonly operations: Operations,
    private readonly settings: SettleSettings,
  ) {}

  /** Settles the order once at a time per process, and per order across instances (else answers it as stored). */
  settle(order: TopupOrder, mode: SettleMode): Promise<TopupOrder> {
    const key = order.outTradeNo;
    const running = this.#running.get(key);
    if (running) return running;
    const work = this.#locked(order, mode).finally(() => this.#running.delete(key));
    this.#running.set(key, work);
    return work;
  }

  /** A verified SUCCESS Transaction (notification or query): paid, when it is this order's payment. */
  async markPaid(store: TopupStore, order: TopupOrder, t: Transaction, source: string): Promise<TopupOrder> {
    const differ = mismatches(order, t);
    if (differ.length) {
      this.rt.log('error', 'payment does not match its top-up order; nothing credited', {
        outTradeNo: order.outTradeNo,
        fields: differ.join(','),
        source,
      });
      const error = { code: 'TOPUP_MISMATCH', message: `WeChat Pay's ${differ.join(', ')} differ from the order.` };
      // A notification's word is checked against WeChat Pay's own answer (the query) at once; a query
      // that differs is final: a person must look (docs/operations.md, top-ups).
      return change(store, order, (o) =>
        source === 'query'
          ? { ...without(o, 'nextCheckAt'), state: 'failed', error }
          : { ...o, error, nextCheckAt: Date.now() },
      );
    }
    return change(store, order, (o) =>
      o.state === 'pending' || o.state === 'closed' || (o.state === 'failed' && o.error?.code !== 'TOPUP_MISMATCH')
        ? {
            ...without(o, 'error'),
            state: 'paid',
            transactionId: t.transaction_id as string,
            paidAt: paidAt(t),
            // Credited right away by whoever marked it; due soon in case that one dies first.
            nextCheckAt: Date.now() + this.settings.retryMs,
            checks: 0,
          }
        : undefined,
    );
  }

  async #locked(order: TopupOrder, mode: SettleMode): Promise<TopupOrder> {
    const store = await topupStore(this.rt);
    const lock = `topup:${order.cardId}:${order.outTradeNo}`;
    const token = randomUUID();
    if (!(await store.acquireLock(lock, token, ORDER_LOCK_TTL_MS))) {
      return (await store.getTopupOrder(order.cardId, order.outTradeNo)) ?? order;
    }
    const renew = setInterval(() => {
      store.extendLock(lock, token, ORDER_LOCK_TTL_MS).catch(() => undefined);
    }, ORDER_LOCK_TTL_MS / 3);
    renew.unref();
    try {
      // As stored now: the caller's copy may be older than another runner's last change.
      const current = (await store.getTopupOrder(order.cardId, order.outTradeNo)) ?? order;
      return await this.#step(store, current, mode);
    } finally {
      clearInterval(renew);
      await store.releaseLock(lock, token).catch(() => undefined);
    }
  }

  async #step(store: TopupStore, order: TopupOrder, mode: SettleMode): Promise<TopupOrder> {
    switch (order.state) {
      case 'pending':
        return this.#pending(store, order, mode);
      case 'paid':
        return this.#credit(store, order, mode);
      case 'credited':
        return order.shipping === 'pending' && mode !== 'poll' ? this.#ship(store, order) : order;
      default:
        // closed, failed: nothing left to do automatically.
        return mode === 'poll'
          ? order
          : change(store, order, (o) => (o.nextCheckAt === undefined ? undefined : without(o, 'nextCheckAt')));
    }
  }

  /** Not known to be paid: ask WeChat Pay; once expired, close it (and ask again: a payment may race the close). */
  async #pending(store: TopupStore, order: TopupOrder, mode: SettleMode): Promise<TopupOrder> {
    let t: Transaction | undefined;
    try {
      t = await this.rt.client.queryOrder(order.outTradeNo);
    } catch (err) {
      return mode === 'poll' ? order : this.#backOff(store, order, err);
    }
    if (t?.trade_state === 'SUCCESS') return this.#paid(store, order, t, mode);
    if (t?.trade_state === 'CLOSED' || t?.trade_state === 'REVOKED') return this.#closed(store, order);
    if (t?.trade_state === 'REFUND') {
      // Paid and refunded before we credited it: nothing to credit (a refund is the merchant's act).
      this.rt.log('warn', 'top-up refunded before it was credited', { outTradeNo: order.outTradeNo });
      const error = { code: 'TOPUP_REFUNDED', message: 'WeChat Pay says the payment was refunded.' };
      return change(store, order, (o) =>
        o.state === 'pending' ? { ...without(o, 'nextCheckAt'), state: 'failed', error } : undefined,
      );
    }
    if (mode === 'poll') return order;
    if (t !== undefined && !(typeof t.trade_state === 'string' && TRADE_PENDING.has(t.trade_state))) {
      this.rt.log('warn', 'unknown trade_state; the top-up stays pending', { outTradeNo: order.outTradeNo });
    }
    if (Date.now() < order.expiresAt) {
      // Still payable: look again later, at the latest when it expires.
      return this.#later(store, order, Math.min(order.expiresAt, Date.now() + this.#backOffMs(order)));
    }
    // Expired. No order at WeChat Pay at all (our order call never arrived): nothing to close.
    if (t === undefined) return this.#closed(store, order);
    let closeFailed: unknown;
    try {
      await this.rt.client.closeOrder(order.outTradeNo);
    } catch (err) {
      closeFailed = err;
    }
    let after: Transaction | undefined;
    try {
      after = await this.rt.client.queryOrder(order.outTradeNo);
    } catch (err) {
      return this.#backOff(store, order, err);
    }
    if (after?.trade_state === 'SUCCESS') return this.#paid(store, order, after, mode);
    if (
      after === undefined ||
      after.trade_state === 'CLOSED' ||
      (closeFailed === undefined && after.trade_state !== 'USERPAYING')
    )
      return this.#closed(store, order);
    return this.#backOff(
      store,
      order,
      closeFailed ?? new MemberCardError('UPSTREAM_BUSY', 'The order is not closed yet.'),
    );
  }

  async #paid(store: TopupStore, order: TopupOrder, t: Transaction, mode: SettleMode): Promise<TopupOrder> {
    const marked = await this.markPaid(store, order, t, 'query');
    return marked.state === 'paid' ? this.#credit(store, marked, mode) : marked;
  }

  async #closed(store: TopupStore, order: TopupOrder): Promise<TopupOrder> {
    const closed = await change(store, order, (o) =>
      o.state === 'pending' ? { ...without(o, 'nextCheckAt', 'error'), state: 'closed' } : undefined,
    );
    if (closed.state === 'closed') this.rt.log('info', 'unpaid top-up closed', { outTradeNo: order.outTradeNo });
    return closed;
  }

  /**
   * Paid: credit amount + bonus through merchant operations, requestId = the out_trade_no, so
   * duplicates, concurrent runners, crashes and restarts credit once. A card that cannot take it
   * now waits (a refused credit would burn its requestId: checked first, and a refusal that still
   * happens moves to the next requestId, since it changed nothing).
   */
  async #credit(store: TopupStore, order: TopupOrder, mode: SettleMode): Promise<TopupOrder> {
    const { cardId } = this.rt.options;
    const requestId = creditRequestId(order);
    const recorded = await store.getOperation(cardId, requestId);
    if (!recorded) {
      let status: string | undefined;
      try {
        status = (await this.rt.client.getCard(cardId, order.code)).user_card_status;
      } catch (err) {
        return mode === 'poll' ? order : this.#backOff(store, order, err);
      }
      if (status !== 'EFFECTIVE') {
        const err = new MemberCardError('CARD_NOT_EDITABLE', `The card is ${status ?? 'unknown'}; the credit waits.`);
        return mode === 'poll' ? order : this.#backOff(store, order, err);
      }
    }
    try {
      const op = await this.operations.adjustBalance({
        code: order.code,
        amount: order.amount + order.bonus,
        remark: creditRemark(order.amount, order.bonus),
        requestId,
        actor: TOPUP_ACTOR,
      });
      return await this.#credited(store, order, op.after as number);
    } catch (err) {
      const entry = await store.getOperation(cardId, requestId).catch(() => undefined);
      if (entry?.state === 'failed') {
        // Refused without changing the card: the next attempt gets a requestId of its own.
        order = await change(store, order, (o) =>
          o.state === 'paid' && o.creditAttempt === order.creditAttempt
            ? { ...o, creditAttempt: o.creditAttempt + 1 }
            : undefined,
        );
      }
      return mode === 'poll' ? order : this.#backOff(store, order, err);
    }
  }

  async #credited(store: TopupStore, order: TopupOrder, balanceAfter: number): Promise<TopupOrder> {
    const shipping = this.settings.shipping !== undefined;
    const credited = await change(store, order, (o) =>
      o.state === 'paid'
        ? {
            ...without(o, 'error', 'nextCheckAt'),
            state: 'credited',
            balanceAfter,
            checks: 0,
            ...(shipping ? { shipping: 'pending' as const, nextCheckAt: Date.now() } : {}),
          }
        : undefined,
    );
    this.rt.log('info', 'top-up credited', { outTradeNo: order.outTradeNo, amount: order.amount, bonus: order.bonus });
    return credited.shipping === 'pending' ? this.#ship(store, credited) : credited;
  }

  async #ship(store: TopupStore, order: TopupOrder): Promise<TopupOrder> {
    const settings = this.settings.shipping;
    if (!settings)
      return change(store, order, (o) => (o.nextCheckAt === undefined ? undefined : without(o, 'nextCheckAt')));
    let failure: unknown;
    try {
      const outcome = await reportDelivery(order, settings);
      if (outcome.reported) {
        return change(store, order, (o) =>
          o.shipping === 'pending'
            ? { ...without(o, 'nextCheckAt', 'error'), shipping: 'reported', checks: 0 }
            : undefined,
        );
      }
      failure = new MemberCardError('UPSTREAM_ERROR', `upload_shipping_info answered errcode ${outcome.errcode}.`);
    } catch (err) {
      failure =
        err instanceof MemberCardError ? err : new MemberCardError('UPSTREAM_ERROR', 'The delivery report failed.');
    }
    if (order.checks + 1 >= MAX_SHIPPING_CHECKS) {
      this.rt.log('error', 'delivery report given up; report it in the mini-program admin (发货信息管理)', {
        outTradeNo: order.outTradeNo,
      });
      return change(store, order, (o) => ({ ...without(o, 'nextCheckAt'), error: errorOf(failure) }));
    }
    return this.#backOff(store, order, failure);
  }

  /** The wait before the next try: retryMs, doubling with each failed check, at most 1 h. */
  #backOffMs(order: TopupOrder): number {
    return Math.min(this.settings.retryMs * 2 ** Math.min(order.checks, 20), HOUR);
  }

  async #later(store: TopupStore, order: TopupOrder, at: number): Promise<TopupOrder> {
    return change(store, order, (o) =>
      o.state === order.state ? { ...o, checks: o.checks + 1, nextCheckAt: at } : undefined,
    );
  }

  async #backOff(store: TopupStore, order: TopupOrder, err: unknown): Promise<TopupOrder> {
    const error = errorOf(err);
    const waitMs = this.#backOffMs(order);
    this.rt.log('warn', 'top-up step failed; tried again later', {
      outTradeNo: order.outTradeNo,
      state: order.state,
      code: error.code,
      retryInMs: waitMs,
    });
    return change(store, order, (o) =>
      o.state === order.state ? { ...o, checks: o.checks + 1, nextCheckAt: Date.now() + waitMs, error } : undefined,
    );
  }
}
