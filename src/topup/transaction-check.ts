import type { TopupOrder } from '../store/types.js';
import type { Transaction } from '../wechatpay/pay-types.js';

// A payment credits a card only when WeChat Pay's Transaction is the order we made: "Check
// amount.total equals the order amount and mchid/appid match before crediting" (payment-notice.html),
// and the payer is the user who ordered it.

/** The fields of a SUCCESS Transaction that differ from the order (empty: it is this order's payment). */
export function mismatches(order: TopupOrder, t: Transaction): string[] {
  const differ: string[] = [];
  if (t.out_trade_no !== order.outTradeNo) differ.push('out_trade_no');
  if (t.mchid !== order.mchid) differ.push('mchid');
  if (t.appid !== order.appid) differ.push('appid');
  if (t.amount?.total !== order.amount) differ.push('amount.total');
  if (t.amount?.currency !== 'CNY') differ.push('amount.currency');
  if (t.payer?.openid !== order.openid) differ.push('payer.openid');
  if (typeof t.transaction_id !== 'string' || !t.transaction_id) differ.push('transaction_id');
  return differ;
}

/** When it was paid: success_time (RFC 3339), else now. */
export function paidAt(t: Transaction): number {
  const ms = typeof t.success_time === 'string' ? Date.parse(t.success_time) : NaN;
  return Number.isNaN(ms) ? Date.now() : ms;
}
