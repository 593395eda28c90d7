// What the sandbox remembers of payments (JSAPI orders), kept in state.json with the rest: each
// order as the merchant placed it, its trade state, and the delivery reports (小程序发货信息管理)
// uploaded for it. Also the mini-program's stable access token.

/** trade_state values (Enumerations.yaml TransactionTradeState); JSAPI orders use these four. */
export type TradeState = 'NOTPAY' | 'SUCCESS' | 'CLOSED' | 'PAYERROR';

export const TRADE_STATE_DESC: Record<TradeState, string> = {
  NOTPAY: '订单未支付',
  SUCCESS: '支付成功',
  CLOSED: '订单已关闭',
  PAYERROR: '支付失败',
};

/** One upload_shipping_info call that was taken. */
export interface ShippingUpload {
  logistics_type: number;
  delivery_mode: number;
  item_desc: string[];
  upload_time: string;
  at: number;
}

export interface PayOrder {
  mchid: string;
  appid: string;
  out_trade_no: string;
  description: string;
  notify_url: string;
  attach?: string;
  amount: { total: number; currency: string };
  payer: { openid: string };
  /** The body as ordered, canonical JSON: a repeat with the same parameters gets the same prepay_id. */
  request: string;
  /** The last moment the user can pay (time_expire, or 7 days), ms. */
  expires_at: number;
  prepay_id: string;
  /** A prepay_id is good for 2 hours; a repeat after that gets a new one. */
  prepay_expires_at: number;
  trade_state: TradeState;
  /** Closed by the close API (expired orders are CLOSED without it). */
  closed?: boolean;
  transaction_id?: string;
  success_time?: string;
  created_at: number;
  shipping: ShippingUpload[];
}

/** The stable access token of the mini-program (getStableAccessToken), valid for 7200 s. */
export interface AccessToken {
  token: string;
  expires_at: number;
}

/** The payment part of the sandbox state. */
export interface PayStateData {
  pay_orders: PayOrder[];
  access_token: AccessToken | null;
}

/** The trade state as of now: an unpaid order whose time_expire passed is CLOSED. */
export function tradeState(order: PayOrder, now = Date.now()): TradeState {
  if (order.trade_state === 'NOTPAY' && order.expires_at <= now) return 'CLOSED';
  return order.trade_state;
}
