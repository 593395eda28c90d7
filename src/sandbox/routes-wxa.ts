import { randomAlnum } from './ids.js';
import type { SandboxKeys } from './keys.js';
import { tradeState } from './pay-state.js';
import { json, type Reply } from './reply.js';
import type { SandboxState } from './state.js';

// The mini-program server APIs a top-up touches, as api.weixin.qq.com answers them (HTTP 200 with
// {errcode, errmsg}): the stable access token (getStableAccessToken) and the delivery report of
// 小程序发货信息管理服务 (uploadShippingInfo, developers.weixin.qq.com/miniprogram/dev/server/API/
// order_shipping/api_uploadshippinginfo). Unsigned, like the real ones.

/** "凭证有效时间, 单位: 秒. 目前是7200秒之内的值". */
const TOKEN_TTL_S = 7200;

const fail = (errcode: number, errmsg: string): Reply => json(200, { errcode, errmsg });
const ok = (): Reply => json(200, { errcode: 0, errmsg: 'ok' });
const dataFormatError = (hint: string): Reply => fail(47001, `data format error: ${hint}`);

type Json = Record<string, unknown>;

function parse(body: string): Json | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
  } catch {
    return undefined;
  }
}

/** POST /cgi-bin/stable_token {grant_type, appid, secret, force_refresh?}: one token until it expires. */
function stableToken(ctx: { keys: SandboxKeys; state: SandboxState }, body: string): Reply {
  const b = parse(body);
  if (!b) return dataFormatError('the body is not a JSON object');
  if (b.grant_type !== 'client_credential') return fail(40002, 'invalid grant_type');
  if (b.appid !== ctx.keys.miniProgramAppid) return fail(40013, 'invalid appid');
  if (b.secret !== ctx.keys.miniProgramSecret) return fail(40125, 'invalid appsecret');
  const now = Date.now();
  let token = ctx.state.data.access_token;
  // Normal mode: the same token while it is valid; force_refresh: a new one.
  if (!token || token.expires_at <= now || b.force_refresh === true) {
    token = { token: randomAlnum(64), expires_at: now + TOKEN_TTL_S * 1000 };
    ctx.state.data.access_token = token;
    ctx.state.save();
  }
  return json(200, { access_token: token.token, expires_in: Math.floor((token.expires_at - now) / 1000) });
}

function str(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length > 0 && [...v].length <= max;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?([+-]\d{2}:\d{2}|Z)$/;

/**
 * POST /wxa/sec/order/upload_shipping_info?access_token=: order_key (1: mchid + out_trade_no, 2:
 * transaction_id), logistics_type 1-4 (3 虚拟商品), delivery_mode 1|2, shipping_list [1, 15] of
 * {item_desc ≤ 120, …}, upload_time RFC 3339, payer.openid; all required. A paid order only
 * (10060001 支付单不存在 otherwise); "每笔支付单仅有一次重新发货机会" (10060003 after it).
 */
function uploadShipping(ctx: { keys: SandboxKeys; state: SandboxState }, query: URLSearchParams, body: string): Reply {
  const token = ctx.state.data.access_token;
  const given = query.get('access_token');
  if (!given || !token || given !== token.token) return fail(40001, 'invalid credential, access_token is invalid');
  if (token.expires_at <= Date.now()) return fail(42001, 'access_token expired');
  const b = parse(body);
  if (!b) return dataFormatError('the body is not a JSON object');
  const key = b.order_key as Json | undefined;
  if (!key || typeof key !== 'object') return dataFormatError('order_key');
  const type = key.order_number_type;
  if (type !== 1 && type !== 2) return dataFormatError('order_key.order_number_type');
  if (type === 1 && (!str(key.mchid, 32) || !str(key.out_trade_no, 32))) return dataFormatError('order_key');
  if (type === 2 && !str(key.transaction_id, 32)) return dataFormatError('order_key.transaction_id');
  if (![1, 2, 3, 4].includes(b.logistics_type as number)) return dataFormatError('logistics_type');
  if (b.delivery_mode !== 1 && b.delivery_mode !== 2) return dataFormatError('delivery_mode');
  if (b.delivery_mode === 2 && typeof b.is_all_delivered !== 'boolean') return dataFormatError('is_all_delivered');
  const list = b.shipping_list;
  if (!Array.isArray(list) || list.length < 1 || list.length > 15) return dataFormatError('shipping_list');
  const items: string[] = [];
  for (const item of list as Json[]) {
    if (!item || typeof item !== 'object' || !str(item.item_desc, 120)) return dataFormatError('item_desc');
    items.push(item.item_desc);
  }
  if (typeof b.upload_time !== 'string' || !RFC3339.test(b.upload_time)) return dataFormatError('upload_time');
  const payer = b.payer as Json | undefined;
  if (!payer || typeof payer !== 'object' || !str(payer.openid, 128)) return dataFormatError('payer.openid');

  const order = ctx.state.data.pay_orders.find((o) =>
    type === 1 ? o.mchid === key.mchid && o.out_trade_no === key.out_trade_no : o.transaction_id === key.transaction_id,
  );
  if (!order || tradeState(order) !== 'SUCCESS' || order.payer.openid !== payer.openid)
    return fail(10060001, '支付单不存在');
  if (order.shipping.length >= 2) return fail(10060003, '支付单已使用重新发货机会');
  order.shipping.push({
    logistics_type: b.logistics_type as number,
    delivery_mode: b.delivery_mode,
    item_desc: items,
    upload_time: b.upload_time,
    at: Date.now(),
  });
  ctx.state.save();
  return ok();
}

/** Routes /cgi-bin/ and /wxa/ requests. */
export function handleWxa(
  ctx: { keys: SandboxKeys; state: SandboxState },
  method: string,
  pathname: string,
  query: URLSearchParams,
  body: string,
): Reply {
  if (method === 'POST' && pathname === '/cgi-bin/stable_token') return stableToken(ctx, body);
  if (method === 'POST' && pathname === '/wxa/sec/order/upload_shipping_info') return uploadShipping(ctx, query, body);
  return fail(-1, `no such API ${method} ${pathname}`);
}
