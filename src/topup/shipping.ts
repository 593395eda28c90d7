import type { TopupOrder } from '../store/types.js';

// The delivery report of 小程序发货信息管理服务: for mini-programs under it, paid funds stay frozen
// until the merchant uploads a delivery (developers.weixin.qq.com/miniprogram/dev/platform-capabilities/
// business-capabilities/order-shipping/order-shipping.html). A top-up is a virtual good
// (logistics_type 3, "例如话费充值, 点卡等"), delivered at once (delivery_mode 1, 统一发货).

export interface ShippingSettings {
  accessToken: () => string | Promise<string>;
  itemDesc: string | undefined;
  baseURL: string;
  timeoutMs: number;
}

/** reported: done (or WeChat says it is shipped already); retry: try again later, with this errcode. */
export type ShippingOutcome = { reported: true } | { reported: false; errcode: number };

/**
 * errcodes that mean nothing is left to report: 10060003 "支付单已使用重新发货机会" (it was reported,
 * twice even) and 10060004 "支付单处于不可发货的状态" (refunded, or shipped already: a WeChat Pay
 * staff answer). 10060001 "支付单不存在" also comes right after a payment ("支付后订单需要入库, 如果
 * 查不到可以等待1分钟后再试", staff answer): retried like the rest.
 */
const DONE = new Set([0, 10060003, 10060004]);

/** RFC 3339 with milliseconds in China Standard Time, as the page's example: 2022-12-15T13:29:35.120+08:00. */
function chinaTime(ms: number): string {
  return `${new Date(ms + 8 * 3600_000).toISOString().slice(0, 23)}+08:00`;
}

export async function reportDelivery(order: TopupOrder, settings: ShippingSettings): Promise<ShippingOutcome> {
  const token = await settings.accessToken();
  const url = new URL('wxa/sec/order/upload_shipping_info', settings.baseURL);
  url.searchParams.set('access_token', token);
  const body = {
    // 1: the order as the merchant named it (mchid + out_trade_no).
    order_key: { order_number_type: 1, mchid: order.mchid, out_trade_no: order.outTradeNo },
    logistics_type: 3,
    delivery_mode: 1,
    shipping_list: [{ item_desc: (settings.itemDesc ?? order.description).slice(0, 120) }],
    upload_time: chinaTime(Date.now()),
    payer: { openid: order.openid },
  };
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(settings.timeoutMs),
    redirect: 'error',
  });
  const answer = (await response.json().catch(() => ({}))) as { errcode?: unknown };
  const errcode = typeof answer.errcode === 'number' ? answer.errcode : -1;
  return DONE.has(errcode) ? { reported: true } : { reported: false, errcode };
}
