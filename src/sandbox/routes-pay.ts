import type { Behaviour } from './behaviour.js';
import { randomHex } from './ids.js';
import type { SandboxKeys } from './keys.js';
import type { Notifier } from './notifier.js';
import { tradeState, type PayOrder } from './pay-state.js';
import { ApiError, json, noContent, type Reply } from './reply.js';
import type { SandboxState } from './state.js';
import { openidUnder, transactionOf } from './transactions.js';
import { paramError, parseJsonObject } from './validate.js';
import { orderNotExist, parseTimeExpire, queryMchid, validateClose, validateJsapiOrder } from './validate-pay.js';

// WeChat Pay APIv3 payments for mini-programs (JSAPI), direct merchants: order, query, close
// (docs/merchant/products/mini-program-payment/apilist.html). The caller has checked the signature.

export const PAY_PREFIX = '/v3/pay/transactions';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** "prepay_id没有超过2小时有效期, 可继续用来调起支付. 超过2小时, 可以原参重入获取新的prepay_id". */
export const PREPAY_TTL_MS = 2 * 60 * MINUTE;

export interface PayContext {
  keys: SandboxKeys;
  state: SandboxState;
  notifier: Notifier;
  behaviour: Behaviour;
}

export interface PayRequest {
  method: string;
  pathname: string;
  query: URLSearchParams;
  body: string;
}

/** wx + 14-digit time + 22 characters, like wx201410272009395522657a690389285100. */
function newPrepayId(now: number): string {
  const t = new Date(now + 8 * 3600_000).toISOString().replace(/\D/g, '').slice(0, 14);
  return `wx${t}${randomHex(11)}`;
}

/**
 * time_expire rules: the last moment the user can pay; earlier than order + 1 min → + 1 min; later
 * than + 90 days → 90 days; unset → 7 days (apilist.html, doc/v3/merchant/4012525167).
 */
function expiryOf(timeExpire: string | undefined, now: number): number {
  if (timeExpire === undefined) return now + 7 * DAY;
  return Math.min(Math.max(parseTimeExpire(timeExpire), now + MINUTE), now + 90 * DAY);
}

/** The merchant of the signature must be the mchid the body or query names. */
function requireOurMchid(ctx: PayContext, mchid: string, location: 'body' | 'query'): void {
  if (mchid !== ctx.keys.mchid)
    throw paramError('mchid', mchid, 'is not the merchant that signed the request', location);
}

function order(ctx: PayContext, body: string): Reply {
  const o = validateJsapiOrder(parseJsonObject(body), ctx.behaviour.get().allowHttpNotifyUrl);
  requireOurMchid(ctx, o.mchid, 'body');
  if (o.appid !== ctx.keys.miniProgramAppid && o.appid !== ctx.keys.appid)
    throw new ApiError(400, 'APPID_MCHID_NOT_MATCH', 'appid和mch_id不匹配');
  // v3 answers {"code":"PARAM_ERROR","message":"appid和openid不匹配"} (WeChat Pay community threads).
  if (!openidUnder(ctx.state, ctx.keys, o.appid, o.payer.openid))
    throw new ApiError(400, 'PARAM_ERROR', 'appid和openid不匹配');
  const now = Date.now();
  const request = JSON.stringify(o);
  const existing = ctx.state.findPayOrder(o.mchid, o.out_trade_no);
  if (existing) {
    const state = tradeState(existing, now);
    if (state === 'CLOSED') throw new ApiError(400, 'ORDER_CLOSED', '订单已关闭');
    // "Before time_expire, calling again with the same parameters returns the order's latest prepay_id."
    if (state !== 'NOTPAY' || existing.request !== request)
      throw new ApiError(403, 'OUT_TRADE_NO_USED', '商户订单号重复');
    if (existing.prepay_expires_at <= now) {
      existing.prepay_id = newPrepayId(now);
      existing.prepay_expires_at = now + PREPAY_TTL_MS;
      ctx.state.save();
    }
    return json(200, { prepay_id: existing.prepay_id });
  }
  const created: PayOrder = {
    mchid: o.mchid,
    appid: o.appid,
    out_trade_no: o.out_trade_no,
    description: o.description,
    notify_url: o.notify_url,
    ...(o.attach !== undefined ? { attach: o.attach } : {}),
    amount: o.amount,
    payer: o.payer,
    request,
    expires_at: expiryOf(o.time_expire, now),
    prepay_id: newPrepayId(now),
    prepay_expires_at: now + PREPAY_TTL_MS,
    trade_state: 'NOTPAY',
    created_at: now,
    shipping: [],
  };
  ctx.state.data.pay_orders.push(created);
  ctx.state.save();
  return json(200, { prepay_id: created.prepay_id });
}

function query(ctx: PayContext, find: (o: PayOrder) => boolean, q: URLSearchParams): Reply {
  requireOurMchid(ctx, queryMchid(q), 'query');
  const found = ctx.state.data.pay_orders.find(find);
  if (!found) throw orderNotExist();
  return json(200, transactionOf(found));
}

/** POST …/close → 204 (doc/v3/merchant/4012556398). A paid order: not documented (switch closePaid). */
function close(ctx: PayContext, outTradeNo: string, body: string): Reply {
  const { mchid } = validateClose(parseJsonObject(body));
  requireOurMchid(ctx, mchid, 'body');
  const found = ctx.state.findPayOrder(mchid, outTradeNo);
  if (!found) throw orderNotExist();
  if (tradeState(found) === 'SUCCESS') {
    if (ctx.behaviour.get().closePaid === 400) throw new ApiError(400, 'ORDERPAID', '订单已支付');
    return noContent();
  }
  found.trade_state = 'CLOSED';
  found.closed = true;
  ctx.state.save();
  return noContent();
}

function segments(rest: string): string[] | undefined {
  try {
    return rest.split('/').map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

/** Routes one signed request under /v3/pay/transactions; throws ApiError for every error answer. */
export function handlePay(ctx: PayContext, req: PayRequest): Reply {
  const notFound = (): ApiError => new ApiError(404, 'NOT_FOUND', `no API at ${req.method} ${req.pathname}`);
  const parts = req.pathname.startsWith(`${PAY_PREFIX}/`)
    ? segments(req.pathname.slice(PAY_PREFIX.length + 1))
    : undefined;
  if (!parts) throw notFound();
  const [kind, id, action] = parts;
  if (parts.length === 1 && kind === 'jsapi' && req.method === 'POST') return order(ctx, req.body);
  if (parts.length === 2 && kind === 'out-trade-no' && id && req.method === 'GET')
    return query(ctx, (o) => o.out_trade_no === id && o.mchid === ctx.keys.mchid, req.query);
  if (parts.length === 2 && kind === 'id' && id && req.method === 'GET')
    return query(ctx, (o) => o.transaction_id === id && o.mchid === ctx.keys.mchid, req.query);
  if (parts.length === 3 && kind === 'out-trade-no' && id && action === 'close' && req.method === 'POST')
    return close(ctx, id, req.body);
  throw notFound();
}
