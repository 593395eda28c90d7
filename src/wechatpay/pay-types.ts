// WeChat Pay's payment objects as our client sends and reads them (JSAPI ordering, query, the
// TRANSACTION.SUCCESS resource): pay.weixin.qq.com/doc/v3/merchant/4012525182 and 4013070356,
// the Transaction of wechatpay-go's services/payments/models.go.

/** Body of POST /v3/pay/transactions/jsapi: the fields we send. */
export interface JsapiOrderRequest {
  /** The AppID the payment runs in: the mini-program's. */
  appid: string;
  mchid: string;
  /** ≤ 127 characters, shown in the user's bill. */
  description: string;
  out_trade_no: string;
  /** RFC 3339 with an offset; the same on every send of one order. */
  time_expire: string;
  /** https, no query parameters. */
  notify_url: string;
  amount: { total: number; currency: 'CNY' };
  /** The user's openid under `appid`. */
  payer: { openid: string };
}

/** trade_state; values outside the documented ones are treated as still pending. */
export type TradeState = 'SUCCESS' | 'REFUND' | 'NOTPAY' | 'CLOSED' | 'REVOKED' | 'USERPAYING' | 'PAYERROR';

/** A Transaction as the query answers it and TRANSACTION.SUCCESS carries it; every field may be absent. */
export interface Transaction {
  appid?: unknown;
  mchid?: unknown;
  out_trade_no?: unknown;
  transaction_id?: unknown;
  trade_type?: unknown;
  trade_state?: unknown;
  trade_state_desc?: unknown;
  success_time?: unknown;
  payer?: { openid?: unknown } | null;
  amount?: { total?: unknown; payer_total?: unknown; currency?: unknown; payer_currency?: unknown } | null;
  [field: string]: unknown;
}
