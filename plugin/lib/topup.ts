// Top-ups in the component: the offers as buttons, what the `topup` event carries to the host (a
// plugin may not call wx.requestPayment: "小程序插件: 不支持"), the host's answer read back, and the
// words for each step. Pure functions, like views.ts.
import type { PaymentParams, TopupOffers, TopupOrder } from './api';
import { formatPrice } from './format';

/** What `topup` carries: the host calls wx.requestPayment(payment), then memberCard.topupResult(orderId, res). */
export interface TopupEvent {
  orderId: string;
  amount: number;
  bonus: number;
  payment: PaymentParams;
}

export interface TopupOption {
  amount: number;
  label: string;
  bonusText: string;
}

/**
 * Where a top-up stands on screen: '' (choosing), ordering, paying (WeChat Pay is open), confirming
 * (paid: waiting for the credit), pending (still confirming after the window), cancelled, failed.
 */
export type TopupStatus = '' | 'ordering' | 'paying' | 'confirming' | 'pending' | 'cancelled' | 'failed';

function bonusOf(offers: TopupOffers, amount: number): number {
  let best = 0;
  let from = -1;
  for (const tier of offers.bonuses || []) {
    if (amount >= tier.from && tier.from > from) {
      best = tier.extra;
      from = tier.from;
    }
  }
  return best;
}

export function topupOptions(offers: TopupOffers): TopupOption[] {
  return (offers.amounts || []).map(({ amount, bonus }) => ({
    amount,
    label: formatPrice(amount),
    bonusText: bonus > 0 ? `送${formatPrice(bonus)}` : '',
  }));
}

/** A range's hint, e.g. "输入 ¥10 至 ¥1000". */
export function rangeText(offers: TopupOffers): string {
  return offers.min !== undefined && offers.max !== undefined
    ? `输入 ${formatPrice(offers.min)} 至 ${formatPrice(offers.max)}`
    : '';
}

/** The user's yuan ("100", "99.5") as fen inside the range, or 0 when it is not one. */
export function amountFromInput(offers: TopupOffers, text: string): number {
  if (!/^\d{1,7}(\.\d{1,2})?$/.test(text)) return 0;
  const [whole = '0', cents = ''] = text.split('.');
  const fen = Number(whole) * 100 + Number(cents.padEnd(2, '0'));
  return offers.min !== undefined && offers.max !== undefined && fen >= offers.min && fen <= offers.max ? fen : 0;
}

export function bonusText(offers: TopupOffers, amount: number): string {
  const bonus = amount > 0 ? bonusOf(offers, amount) : 0;
  return bonus > 0 ? `送${formatPrice(bonus)}` : '';
}

/** wx.requestPayment's outcome, as the host hands it back (its success/fail result, or a word). */
export function paymentOutcome(result: unknown): 'ok' | 'cancel' | 'fail' {
  const errMsg =
    typeof result === 'string'
      ? result
      : result && typeof result === 'object' && typeof (result as { errMsg?: unknown }).errMsg === 'string'
        ? (result as { errMsg: string }).errMsg
        : '';
  if (errMsg === 'ok' || /:ok$/.test(errMsg)) return 'ok';
  return /cancel/i.test(errMsg) ? 'cancel' : 'fail';
}

/** What the user reads under the amounts for each status (and an order that ended unpaid). */
export function topupStatusText(status: TopupStatus, order?: TopupOrder): string {
  switch (status) {
    case 'paying':
      return '请在微信支付中完成付款…';
    case 'confirming':
      return '支付确认中…';
    case 'pending':
      return '支付确认中，到账后余额会自动更新。';
    case 'cancelled':
      return '已取消支付。';
    case 'failed':
      return order && order.state === 'closed' ? '订单已关闭，请重新充值。' : '充值未成功，请稍后再试。';
    default:
      return '';
  }
}
